import Foundation

/// Where an agent keeps its region identity in its state directory: the TLS key it generated (0600), the client
/// certificate the RC-TCB issued at enrolment, and the region CA that certificate chains to.
package struct AgentIdentityFiles: Sendable {
    package let stateDirectory: String

    package init(stateDirectory: String) {
        self.stateDirectory = stateDirectory
    }

    package var tlsKey: String { "\(stateDirectory)/tls.key" }
    package var tlsCertificate: String { "\(stateDirectory)/tls.pem" }
    package var regionCA: String { "\(stateDirectory)/region-ca.pem" }
}
