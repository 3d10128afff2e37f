import CGSL

/// GSL's default error handler aborts the process. Switchyard turns it off once, so
/// that a domain error comes back as a status code (and NaN) instead of a crash.
enum GSLErrorHandling {
    /// Installs GSL's "no abort" handler; evaluating it any number of times is safe.
    static let installed: Void = {
        _ = gsl_set_error_handler_off()
    }()
}
