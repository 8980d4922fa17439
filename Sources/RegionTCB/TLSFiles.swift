package import NIOSSL

/// TLS configurations from the RC-TCB directory: the server presents `rctcb.pem`, trusts only the region CA for
/// client certificates, and asks for one (routes decide which role they need; enrolment needs none).
extension RegionDirectory {
    package func serverTLSConfiguration() throws(RegionError) -> TLSConfiguration {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(serverCertificate).map { NIOSSLCertificateSource.certificate($0) }
            _ = try SecureFile.read(serverKey, secret: true)
            let key = try NIOSSLPrivateKey(file: serverKey, format: .pem)
            var config = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            config.trustRoots = .file(caCertificate)
            config.certificateVerification = .optionalVerification
            config.minimumTLSVersion = .tlsv12
            return config
        } catch let e as RegionError {
            throw e
        } catch {
            throw RegionError(.badCertificateFile, "cannot load the RC-TCB's TLS identity from \(path): \(error)")
        }
    }
}
