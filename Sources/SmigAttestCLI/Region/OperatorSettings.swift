import Foundation
import Policy

/// What the operator's commands (`ivt`, `events`, `ring`, `evacuations`, `migrate`, `rctcb reload`) take when a
/// flag does not say: an environment variable, else the operator's configuration file. A flag wins over the
/// environment, the environment over the file.
///
/// The file is YAML of the same keys, read as strictly as a policy (an unknown key is refused with a did-you-mean,
/// every error names file, line and column); relative paths in it are relative to the file:
///
///     rctcb: https://10.20.0.10:8443
///     dir: /etc/smig-attest/region        # admin.pem, admin.key, region-ca.pem
struct OperatorSettings {
    /// One setting: its flag, environment variable and key in the file are named after it.
    enum Key: String, CaseIterable {
        case rctcb, dir, ca, cert, key

        var environment: String { "SMIG_ATTEST_" + rawValue.uppercased() }
        var isPath: Bool { self != .rctcb }
    }

    /// Where the file is looked for, first found wins: $SMIG_ATTEST_CONFIG (which must exist), else
    /// $XDG_CONFIG_HOME/smig-attest/config.yaml (~/.config/… without XDG_CONFIG_HOME), else /etc/smig-attest/config.yaml.
    static let searchText = "$SMIG_ATTEST_CONFIG, else ~/.config/smig-attest/config.yaml, else /etc/smig-attest/config.yaml"

    /// The file the values came from, if any.
    let file: String?
    private let fromFile: [Key: String]
    private let environment: [String: String]

    init(environment: [String: String] = ProcessInfo.processInfo.environment) throws(CommandFailure) {
        self.environment = environment
        let candidates: [String]
        if let named = environment["SMIG_ATTEST_CONFIG"], !named.isEmpty {
            candidates = [named]
        } else {
            let home = environment["HOME"].map { "\($0)/.config" }
            let base = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? home
            candidates = (base.map { ["\($0)/smig-attest/config.yaml"] } ?? []) + ["/etc/smig-attest/config.yaml"]
        }
        let named = environment["SMIG_ATTEST_CONFIG"].map { !$0.isEmpty } ?? false
        guard let path = candidates.first(where: { named || FileManager.default.fileExists(atPath: $0) }) else {
            (file, fromFile) = (nil, [:])
            return
        }
        var values: [Key: String] = [:]
        do throws(PolicyError) {
            let document = try ConfigurationDocument(contentsOf: path, what: "the operator configuration", keys: Key.allCases.map(\.rawValue))
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            for key in Key.allCases {
                guard let value = try document.string(key.rawValue) else { continue }
                values[key] = key.isPath && !value.hasPrefix("/") ? directory.appendingPathComponent(value).standardized.path : value
            }
        } catch {
            let coded = ConfigurationDocument.coded(error, prefix: "config.", hint: "its keys are \(Key.allCases.map(\.rawValue).joined(separator: ", "))")
            throw CommandFailure("\(coded.code): \(coded.message)", exitCode: 2)
        }
        (file, fromFile) = (path, values)
    }

    /// The flag's value, else the environment's, else the file's.
    func value(_ key: Key, flag: String?) -> String? {
        if let flag { return flag }
        if let env = environment[key.environment], !env.isEmpty { return env }
        return fromFile[key]
    }
}
