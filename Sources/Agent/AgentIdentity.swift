import Foundation

/// Where an agent keeps its region identity in its state directory: the TLS key it generated (0600), the client
/// certificate the RC-TCB issued at enrolment, and the region CA that certificate chains to.
public struct AgentIdentityFiles: Sendable {
    public let stateDirectory: String

    public init(stateDirectory: String) {
        self.stateDirectory = stateDirectory
    }

    public var tlsKey: String { "\(stateDirectory)/tls.key" }
    public var tlsCertificate: String { "\(stateDirectory)/tls.pem" }
    public var regionCA: String { "\(stateDirectory)/region-ca.pem" }
}
