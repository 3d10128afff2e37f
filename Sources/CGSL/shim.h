// The GSL headers Switchyard uses. gsl_randist.h is deliberately absent: it pulls in
// GSL's own cblas header, whose enums clash with OpenBLAS's. The few randist
// functions needed are declared here by hand with GSL's exact signatures (GSL 2.x,
// gsl/gsl_randist.h).
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
unsigned int gsl_ran_binomial(const gsl_rng *r, double p, unsigned int n);
void gsl_ran_multinomial(const gsl_rng *r, const size_t K, const unsigned int N,
                         const double p[], unsigned int n[]);
unsigned int gsl_ran_hypergeometric(const gsl_rng *r, unsigned int n1, unsigned int n2,
                                    unsigned int t);
double gsl_ran_hypergeometric_pdf(const unsigned int k, const unsigned int n1,
                                  const unsigned int n2, unsigned int t);
