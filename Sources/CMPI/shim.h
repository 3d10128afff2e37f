// Open MPI's C API for SwitchyardMPI. mpi.h defines the predefined handles as macros that
// take the address of a library global (OMPI_PREDEFINED_GLOBAL), which Swift cannot import:
// these accessors return them. Only MPI here (no GSL or OpenBLAS headers).
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>

static inline MPI_Comm switchyard_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype switchyard_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype switchyard_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype switchyard_mpi_int64(void) { return MPI_INT64_T; }
