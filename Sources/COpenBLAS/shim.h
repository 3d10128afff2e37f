// Only OpenBLAS's CBLAS interface: kept apart from GSL, whose own cblas header
// declares the same enums (see docs/architecture.md).
#include <cblas.h>
