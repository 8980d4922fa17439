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
    /// Who vouches for the server (for error messages), and whether its certificate must name the URL's host.
    let trust: String
    let hostnameVerified: Bool

    package struct Failure: Error, CustomStringConvertible, Sendable {
        /// A region error code from the server, `transport.*` for connection problems, `tls.*` for the client's
        /// own TLS files and a server it does not trust.
        package let code: String
        package let message: String
        package let status: Int?
        package var description: String { "\(code): \(message)" }

        package init(code: String, message: String, status: Int?) {
            (self.code, self.message, self.status) = (code, message, status)
        }
    }

    /// `certificate`/`key`: PEM files of this client's identity (nil: no client certificate, for enrolment). Each
    /// file is read now: one that is missing or holds no PEM certificate (key) is a coded failure naming it
    /// (`tls.bad-ca-file`, `tls.bad-certificate-file`, `tls.bad-key-file`), never a TLS library's message later.
    /// `failFast`: for a command a person runs once — a connection that cannot be made (refused, or a server whose
    /// certificate this client does not trust) fails at once instead of being retried with back-off until the
    /// connect time-out; services keep retrying (a flaky connect at scale is normal for them).
    package init(caFile: String, certificate: String?, key: String?, peer: Peer, timeout: TimeAmount = .seconds(5),
                 failFast: Bool = false) throws(Failure) {
        var tls = TLSConfiguration.makeClientConfiguration()
        let roots = try Self.pem(caFile, "tls.bad-ca-file", "the region CA certificate") { try NIOSSLCertificate.fromPEMFile($0) }
        guard !roots.isEmpty else { throw Self.badFile(caFile, "tls.bad-ca-file", "the region CA certificate") }
        tls.trustRoots = .certificates(roots)
        tls.certificateVerification = peer == .rctcb ? .fullVerification : .noHostnameVerification
        tls.minimumTLSVersion = .tlsv12
        if let certificate, let key {
            let chain = try Self.pem(certificate, "tls.bad-certificate-file", "a client certificate") { try NIOSSLCertificate.fromPEMFile($0) }
            guard !chain.isEmpty else { throw Self.badFile(certificate, "tls.bad-certificate-file", "a client certificate") }
            tls.certificateChain = chain.map { .certificate($0) }
            tls.privateKey = .privateKey(try Self.pem(key, "tls.bad-key-file", "a private key") { try NIOSSLPrivateKey(file: $0, format: .pem) })
        }
        var config = HTTPClient.Configuration(tlsConfiguration: tls)
        config.timeout = .init(connect: timeout, read: timeout)
        config.httpVersion = .http1Only
        config.connectionPool.retryConnectionEstablishment = !failFast
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        self.timeout = timeout
        trust = "the region CA in \(caFile)"
        hostnameVerified = peer == .rctcb
    }

    /// Loads one of the client's PEM files with `load`; a missing file, or one `load` refuses, is `code`.
    static func pem<T>(_ path: String, _ code: String, _ what: String, _ load: (String) throws -> T) throws(Failure) -> T {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw Failure(code: code, message: "cannot read \(what) \(path) (hint: \(filesHint))", status: nil)
        }
        do { return try load(path) } catch { throw badFile(path, code, what) }
    }

    static func badFile(_ path: String, _ code: String, _ what: String) -> Failure {
        Failure(code: code, message: "\(path) is not \(what) in PEM (hint: \(filesHint))", status: nil)
    }

    static let filesHint = "rctcb init writes region-ca.pem, admin.pem and admin.key in its directory; agent enrol writes tls.pem and tls.key"

    /// The RC-TCB's base URL as an operator or a configuration gives it: `https://HOST:PORT`, without a trailing
    /// slash; anything else (no scheme, http, a path) is `transport.bad-url`.
    package static func baseURL(_ text: String) throws(Failure) -> String {
        let base = text.hasSuffix("/") ? String(text.dropLast()) : text
        guard let c = URLComponents(string: base), c.scheme == "https", let host = c.host, !host.isEmpty, c.path.isEmpty,
              c.query == nil, c.fragment == nil, c.user == nil else {
            throw Failure(code: "transport.bad-url", message: "'\(text)' is not the RC-TCB's URL: it must be https://HOST:PORT "
                          + "(hint: e.g. https://127.0.0.1:8443, the address and port of rctcb serve)", status: nil)
        }
        return base
    }

    /// A request that got no answer, as a coded failure: a server whose certificate `trust` does not vouch for
    /// (or, when `hostnameVerified`, that does not name the URL's host) is `tls.server-not-trusted`, a URL the
    /// client cannot use `transport.bad-url`, anything else `transport.unreachable`.
    static func noAnswer(_ url: String, _ error: any Error, trust: String, hostnameVerified: Bool) -> Failure {
        if let e = error as? HTTPClientError, e == .invalidURL || e == .emptyHost || e == .emptyScheme {
            return Failure(code: "transport.bad-url", message: "'\(url)' is not a URL this client can use (hint: the URL must be https://HOST:PORT)", status: nil)
        }
        if (error as? NIOSSLExtraError) == .failedToValidateHostname || "\(error)".contains("CERTIFICATE_VERIFY_FAILED") {
            let names = hostnameVerified ? ", or it does not name the URL's host" : ""
            return Failure(code: "tls.server-not-trusted", message: "\(url): the server's certificate was not issued by \(trust)\(names) "
                           + "(hint: is the CA file this region's region-ca.pem, and the URL the RC-TCB's address as rctcb init --server-name named it?)",
                           status: nil)
        }
        return Failure(code: "transport.unreachable", message: "\(url): \(error)", status: nil)
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
            throw Self.noAnswer(url, error, trust: trust, hostnameVerified: hostnameVerified)
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
