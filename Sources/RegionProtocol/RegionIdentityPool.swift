import AsyncHTTPClient
package import Foundation
package import NIOCore
import NIOHTTP1
package import NIOSSL

/// An HTTPS client that speaks for many region identities at once: each request names the client certificate it
/// presents, and connections are pooled per identity (a TLS session belongs to one certificate). Used by the
/// region benchmark, where one process plays thousands of agents; trusts only the region CA.
package final class RegionIdentityPool: Sendable {
    let client: HTTPClient
    let ca: NIOSSLCertificate
    package let timeout: TimeAmount

    package init(trusting ca: NIOSSLCertificate, timeout: TimeAmount = .seconds(30)) {
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: timeout, read: timeout)
        config.httpVersion = .http1Only
        config.connectionPool = .init(idleTimeout: .seconds(600))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        self.ca = ca
        self.timeout = timeout
    }

    deinit {
        try? client.syncShutdown()
    }

    package func shutdown() async {
        try? await client.shutdown()
    }

    /// The TLS configuration presenting `chain`/`key` to the RC-TCB: trusting the region CA, and requiring the
    /// server's certificate to name the URL's host (as ``RegionClient`` does for ``RegionClient/Peer/rctcb``).
    package func identity(chain: [NIOSSLCertificate], key: NIOSSLPrivateKey) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates([ca])
        tls.certificateVerification = .fullVerification
        tls.minimumTLSVersion = .tlsv12
        tls.certificateChain = chain.map { .certificate($0) }
        tls.privateKey = .privateKey(key)
        return tls
    }

    /// POSTs `body` (JSON) presenting `identity`; a non-2xx answer is a ``RegionClient/Failure`` with its code.
    package func post<Answer: Decodable>(_ url: String, _ body: Data, as identity: TLSConfiguration,
                                        answer: Answer.Type = Answer.self) async throws(RegionClient.Failure) -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        request.tlsConfiguration = identity
        let status: Int
        let data: Data
        do {
            let response = try await client.execute(request, timeout: timeout)
            status = Int(response.status.code)
            data = Data(try await response.body.collect(upTo: 8 << 20).readableBytesView)
        } catch {
            throw RegionClient.Failure(code: "transport.unreachable", message: "\(url): \(error)", status: nil)
        }
        return try RegionClient.answer(url, status: status, data: data)
    }
}
