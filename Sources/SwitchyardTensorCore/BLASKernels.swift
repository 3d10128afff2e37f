import COpenBLAS
import Foundation

/// Which of OpenBLAS's kernel sets (its "core") runs Switchyard's GEMMs.
///
/// OpenBLAS built with `DYNAMIC_ARCH` (Debian's is) picks a kernel set for the CPU when it
/// loads, or takes the one the `OPENBLAS_CORETYPE` environment variable names. GEMM results
/// depend on it in the last bits (each set blocks and sums in its own order), and so does the
/// speed: on the project's machine, an AMD EPYC with AVX-512, OpenBLAS 0.3.21 runs the AVX2 set
/// (`Haswell`) and its AVX-512 set (`SkylakeX`) would run `sgemm` about 1.9× faster
/// (docs/performance.md). A run is reproducible for the same seed, thread count and kernel set,
/// so `summary.json` and `bench train` record ``summary``.
///
/// Switchyard never changes the choice: the project's machines pin `OPENBLAS_CORETYPE` because
/// older OpenBLAS builds compute wrong results or crash on some processors they do not know.
public enum BLASKernels {
    /// The name OpenBLAS gives the kernel set in force, e.g. `Haswell` or `SkylakeX`.
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// One line for logs and records: the kernel set and who chose it, e.g.
    /// `Haswell (OPENBLAS_CORETYPE=Haswell)` or `SkylakeX (OpenBLAS's detection)`.
    public static var summary: String { summary(environment: ProcessInfo.processInfo.environment) }

    /// ``summary`` for the process environment `environment` (OpenBLAS read it when it loaded).
    static func summary(environment: [String: String]) -> String {
        if let forced = environment["OPENBLAS_CORETYPE"] {
            return "\(coreName) (OPENBLAS_CORETYPE=\(forced))"
        }
        return "\(coreName) (OpenBLAS's detection)"
    }
}
