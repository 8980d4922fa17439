import AsyncHTTPClient
import Foundation
package import NIOCore
import NIOHTTP1
import NIOSSL

/// An HTTPS client of the region: presents a region certificate, trusts only the region CA.
///
/// Which server it accepts depends on the peer (``Peer``): the RC-TCB must present a certificate that names the
/// address it is reached at (only the RC-TCB's certificate carries names: agent and admin certificates have
/// none, so a host holding an agent certificate cannot pose as the RC-TCB); an agent's quote endpoint is reached
/// by address and any region certificate will do, because what it says is verified on its own merits (quotes
/// against pinned AKs, nonces the verifier issued).
package final class RegionClient: Sendable {
    /// Whom the client talks to.
    package enum Peer: Sendable {
        /// The RC-TCB: its certificate must name the URL's host (full verification).
        case rctcb
        /// An agent's quote endpoint: any certificate of the region CA.
        case agent
    }

    let client: HTTPClient
    package let timeout: TimeAmount

    package struct Failure: Error, CustomStringConvertible, Sendable {
        /// A region error code from the server, or `transport.*` for connection problems.
        package let code: String
        package let message: String
        package let status: Int?
        package var description: String { "\(code): \(message)" }
    }

    /// `certificate`/`key`: PEM files of this client's identity (nil: no client certificate, for enrolment).
    package init(caFile: String, certificate: String?, key: String?, peer: Peer, timeout: TimeAmount = .seconds(5)) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(caFile)
        tls.certificateVerification = peer == .rctcb ? .fullVerification : .noHostnameVerification
        tls.minimumTLSVersion = .tlsv12
        if let certificate, let key {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        }
        var config = HTTPClient.Configuration(tlsConfiguration: tls)
        config.timeout = .init(connect: timeout, read: timeout)
        config.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        self.timeout = timeout
    }

    deinit {
        try? client.syncShutdown()
    }

    package func shutdown() async {
        try? await client.shutdown()
    }

    package func post<Body: Encodable, Answer: Decodable>(_ url: String, _ body: Body, as: Answer.Type = Answer.self) async throws(Failure) -> Answer {
        try await send(url, method: .POST, body: RegionJSON.encode(body))
    }

    package func get<Answer: Decodable>(_ url: String, as: Answer.Type = Answer.self) async throws(Failure) -> Answer {
        try await send(url, method: .GET, body: nil)
    }

    func send<Answer: Decodable>(_ url: String, method: HTTPMethod, body: Data?) async throws(Failure) -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "content-type", value: "application/json")
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let status: Int
        let bytes: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: timeout)
            status = Int(response.status.code)
            bytes = try await response.body.collect(upTo: 8 << 20)
        } catch {
            throw Failure(code: "transport.unreachable", message: "\(url): \(error)", status: nil)
        }
        return try Self.answer(url, status: status, data: Data(bytes.readableBytesView))
    }

    /// Decodes an answer: 2xx → `Answer`; otherwise the server's coded error body, or `transport.http-N`.
    static func answer<Answer: Decodable>(_ url: String, status: Int, data: Data) throws(Failure) -> Answer {
        guard (200..<300).contains(status) else {
            if let e = try? RegionJSON.decode(RegionErrorBody.self, from: data) {
                throw Failure(code: e.code, message: e.message, status: status)
            }
            throw Failure(code: "transport.http-\(status)", message: "\(url) answered HTTP \(status)", status: status)
        }
        do { return try RegionJSON.decode(Answer.self, from: data) } catch {
            throw Failure(code: "transport.bad-answer", message: "\(url): \(error.reason)", status: status)
        }
    }
}
