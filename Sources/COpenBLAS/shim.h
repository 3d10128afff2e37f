// Only OpenBLAS's CBLAS interface: kept apart from GSL, whose own cblas header
// declares the same enums (see docs/architecture.md).
#include <cblas.h>

// OpenBLAS's own worker threads: stopped once Switchyard takes over the threading (see
// ComputeThreads.swift). Exported by libopenblas (used by its fork handler), not in cblas.h.
int blas_thread_shutdown_(void);
