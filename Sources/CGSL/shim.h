// The GSL headers Switchyard uses. gsl_randist.h is deliberately absent: it pulls in
// GSL's own cblas header, whose enums clash with OpenBLAS's. The few randist
// functions needed are declared here by hand with GSL's exact signatures.
#include <gsl/gsl_errno.h>
#include <gsl/gsl_statistics_double.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_histogram.h>
#include <gsl/gsl_sort_double.h>
#include <gsl/gsl_sort_vector_double.h>
#include <gsl/gsl_sf_gamma.h>

double gsl_ran_gaussian_ziggurat(const gsl_rng *r, double sigma);
unsigned int gsl_ran_poisson(const gsl_rng *r, double mu);
void gsl_ran_shuffle(const gsl_rng *r, void *base, size_t n, size_t size);
