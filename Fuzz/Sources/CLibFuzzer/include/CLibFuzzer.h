// libFuzzer's driver, called from each fuzz target's Swift entry point.
//
// SwiftPM (tools 5.5 and later) renames an executable's entry point to <module>_main and
// links it as `main`, so libFuzzer's own `main` is never linked into a Swift executable
// target. Each target therefore has a `@main` type that calls switchyard_libfuzzer_main,
// which runs libFuzzer's driver (LLVMFuzzerRunDriver, in compiler-rt since LLVM 11) on the
// target's LLVMFuzzerTestOneInput.
#ifndef SWITCHYARD_CLIBFUZZER_H
#define SWITCHYARD_CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer with the process's arguments on LLVMFuzzerTestOneInput; returns its exit status.
int switchyard_libfuzzer_main(int argc, char **argv);

#endif
