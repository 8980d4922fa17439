#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore

/// Why a listener (the RC-TCB's, an agent's quote endpoint) could not bind its address, read from the error its
/// server threw, so each service can say it as its own coded error naming the address.
package enum ListenFailure: Sendable, Equatable {
    /// Another process listens on the address and port (EADDRINUSE).
    case addressInUse
    /// The address is not one of this machine's, or binding it is not allowed (EADDRNOTAVAIL, EACCES): the reason.
    case cannotListen(String)

    /// nil when `error` is not a failure to bind.
    package init?(_ error: any Error) {
        guard let e = error as? IOError else { return nil }
        switch e.errnoCode {
        case EADDRINUSE: self = .addressInUse
        case EADDRNOTAVAIL, EACCES: self = .cannotListen(String(cString: strerror(e.errnoCode)))
        default: return nil
        }
    }
}
