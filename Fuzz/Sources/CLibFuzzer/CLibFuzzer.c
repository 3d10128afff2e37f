#include "CLibFuzzer.h"

// Defined by compiler-rt's libFuzzer (linked by -sanitize=fuzzer).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
// Defined by the fuzz target (@_cdecl("LLVMFuzzerTestOneInput") in Swift).
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int switchyard_libfuzzer_main(int argc, char **argv) {
    return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput);
}
