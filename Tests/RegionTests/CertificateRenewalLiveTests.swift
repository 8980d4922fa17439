import Foundation
import RegionLab
import RegionTCB
import SmigTestSupport
import SwiftASN1
import Testing
import TPMWire
import X509

@Suite("A live region: agent certificate renewal", .serialized)
struct CertificateRenewalLiveTests {
    static func certs(_ r: LoopbackRegion) throws -> [[String: Any]] {
        let text = try r.run(["rctcb", "certs", "--dir", r.rctcbDir, "--json"])
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
    }

    static func trimmed(_ serial: String) -> String {
        String(serial.lowercased().drop { $0 == "0" })
    }

    /// host-2's agent renews its certificate when the configured fraction of its lifetime has passed: the RC-TCB
    /// issues a new one after a quote by the enrolled AK, `rctcb certs` lists it as current with its expiry, the
    /// agent writes it and presents it on its quote endpoint without a restart, the region stays trusted, and the
    /// RC-TCB's /metrics gives the fewest days to expiry.
    @Test func anAgentRenewsItsCertificateAndKeepsWorking() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 3)
        try await r.wait("all trusted") { rows in rows.count == 3 && rows.allSatisfy { $0.state == .trusted } }
        let before = try Self.certs(r)
        #expect(before.count == 3 && before.allSatisfy { $0["issuedBy"] as? String == "enrolment" && $0["current"] as? Bool == true }, "\(before)")
        #expect(before.allSatisfy { (($0["daysToExpiry"] as? Double) ?? 0) > 89.9 })

        // A bad fraction is refused at start, with the key named.
        r.stopAgent(1)
        try r.updateAgentConfig(1, ["renewCertificateAt": 1.5])
        let refused = try ToolRun.run(r.options.binary, ["agent", "run", "--config", r.hosts[1].agentConfig, "--json"])
        #expect(refused.status == 2 && refused.output.contains("agent.config-bad-value") && refused.output.contains("renewCertificateAt"), "\(refused.output)")

        // Due at once: renewed at start.
        let since = try r.store().lastEventSeq()
        try r.updateAgentConfig(1, ["renewCertificateAt": 0.00001])
        try r.startAgent(1)
        try await r.wait("host-2 renewed", seconds: 60) { _ in
            (try? r.store().events(since: since, host: "host-2").contains { $0.kind == "certificate-renewed" }) == true
        }
        let after = try Self.certs(r)
        let current = try #require(after.first { $0["host"] as? String == "host-2" && $0["current"] as? Bool == true })
        #expect(current["issuedBy"] as? String == "renewal" && ((current["daysToExpiry"] as? Double) ?? 0) > 89.9, "\(current)")
        #expect(after.filter { $0["host"] as? String == "host-2" && $0["issuedBy"] as? String == "enrolment" }.allSatisfy { $0["current"] as? Bool == false })
        let serial = try #require(current["serial"] as? String)

        // The agent wrote it, and its quote endpoint presents it (no restart).
        let onDisk = try Certificate(pemEncoded: String(contentsOfFile: "\(r.hosts[1].stateDirectory)/tls.pem", encoding: .utf8))
        #expect(Hex.encode(Array(onDisk.serialNumber.bytes)) == serial)
        let presented = try ToolRun.run("sh", ["-c", "openssl s_client -connect 127.0.0.1:\(r.hosts[1].agentPort) -CAfile \(r.rctcbDir)/region-ca.pem </dev/null 2>/dev/null | openssl x509 -noout -serial"])
        #expect(Self.trimmed(presented.output.replacingOccurrences(of: "serial=", with: "").trimmingCharacters(in: .whitespacesAndNewlines)) == Self.trimmed(serial),
                "\(presented.output) vs \(serial)")

        // The region goes on: host-2 is measured again and measures its neighbour with the renewed identity.
        let renewedAt = Date()
        try await r.wait("host-2 and host-3 measured after the renewal", seconds: 90) { rows in
            rows.allSatisfy { $0.state == .trusted }
                && (rows.first { $0.host == "host-2" }?.lastQuoteAt ?? .distantPast) > renewedAt
                && rows.contains { $0.measuredBy == "host-2" && ($0.lastQuoteAt ?? .distantPast) > renewedAt }
        }

        // The agent's own metric, on its quote endpoint, to the admin certificate only (agent certificates name no
        // address, so the name is not checked here; the certificate chain is).
        let agentMetrics = "https://127.0.0.1:\(r.hosts[1].agentPort)/metrics"
        let agent = try ToolRun.run("curl", ["-sS", "--insecure", "--cert", "\(r.rctcbDir)/admin.pem", "--key", "\(r.rctcbDir)/admin.key", agentMetrics])
        let days = try #require(agent.output.split(separator: "\n").first { $0.hasPrefix("smig_agent_certificate_days_to_expiry ") }, "\(agent.output)")
        #expect((Double(days.split(separator: " ").last ?? "") ?? 0) > 89.9, "\(days)")
        #expect(agent.output.contains("smig_agent_certificate_renewals_total{result=\"ok\"}"), "\(agent.output)")
        let anonymous = try ToolRun.run("curl", ["-sS", "--insecure", agentMetrics])
        #expect(!anonymous.output.contains("smig_agent"), "\(anonymous.output)")

        let scrape = try ToolRun.run("curl", ["-sS", "--cacert", "\(r.rctcbDir)/region-ca.pem", "--cert", "\(r.rctcbDir)/admin.pem", "--key", "\(r.rctcbDir)/admin.key", "\(r.url)/metrics"])
        let line = try #require(scrape.output.split(separator: "\n").first { $0.hasPrefix("smig_agent_certificate_min_days_to_expiry ") }, "\(scrape.output)")
        #expect((Double(line.split(separator: " ").last ?? "") ?? 0) > 89.9, "\(line)")
        #expect(scrape.output.contains("smig_agent_certificates_expiring{within=\"30d\"} 0"), "\(scrape.output)")
    }
}
