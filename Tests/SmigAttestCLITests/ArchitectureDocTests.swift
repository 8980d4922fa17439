import Foundation
import Testing

/// docs/architecture.md names every target of Package.swift with its kind and the package's targets it depends
/// on, and its layer diagram puts every target above what it uses: a target added, removed or rewired in
/// Package.swift without the page fails here.
@Suite("docs/architecture.md matches Package.swift")
struct ArchitectureDocTests {
    struct Target: Equatable, CustomStringConvertible {
        var kind: String
        var dependencies: Set<String>
        var description: String { "\(kind) depending on \(dependencies.sorted())" }
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The kind of each target declaration, as the page names it.
    static let kinds = ["target": "library", "executableTarget": "executable", "testTarget": "test",
                        "systemLibrary": "system library"]

    /// Every target declared in Package.swift: `.target(name: "X", dependencies: [...], ...)` and its kin. A
    /// dependency is a quoted name in `dependencies: [...]` outside `.product(...)`.
    static func packageTargets(_ manifest: String) throws -> [String: Target] {
        let declaration = /\.(target|executableTarget|testTarget|systemLibrary)\(\s*name:\s*"([^"]+)"/
        var targets: [String: Target] = [:]
        for match in manifest.matches(of: declaration) {
            let name = String(match.2)
            let call = String(try #require(Self.balanced(manifest, from: match.range.lowerBound, open: "(", close: ")"),
                                           "the declaration of \(name) is not closed"))
            var dependencies: Set<String> = []
            if let list = call.firstMatch(of: /dependencies:\s*\[/) {
                let inner = try #require(Self.balanced(call, from: call.index(before: list.range.upperBound), open: "[", close: "]"))
                let targetsOnly = inner.replacing(/\.product\([^)]*\)/, with: "")
                dependencies = Set(targetsOnly.matches(of: /"([^"]+)"/).map { String($0.1) })
            }
            #expect(targets[name] == nil, "\(name) is declared twice")
            targets[name] = Target(kind: try #require(kinds[String(match.1)]), dependencies: dependencies)
        }
        return targets
    }

    /// The text from the bracket at or after `start` to its matching close (brackets inside strings are not
    /// expected in a manifest's target list).
    static func balanced(_ text: String, from start: String.Index, open: Character, close: Character) -> Substring? {
        guard let first = text[start...].firstIndex(of: open) else { return nil }
        var depth = 0
        var i = first
        while i < text.endIndex {
            if text[i] == open { depth += 1 }
            if text[i] == close {
                depth -= 1
                if depth == 0 { return text[first...i] }
            }
            i = text.index(after: i)
        }
        return nil
    }

    /// The rows of the page's target tables: | `Name` | kind | `Dep`, `Dep` or — | what it is |.
    static func documentedTargets(_ page: String) -> [String: Target] {
        var targets: [String: Target] = [:]
        for line in page.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4 else { continue }
            let name = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            let dependencies = Set(cells[3].matches(of: /`([^`]+)`/).map { String($0.1) })
            targets[name] = Target(kind: cells[2], dependencies: dependencies)
        }
        return targets
    }

    /// The layer diagram: the first code block under "## Modules and their dependencies", top line first; on each
    /// line the targets before the first run of two spaces, separated by " · ".
    static func layers(_ page: String) throws -> [[String]] {
        let section = try #require(page.range(of: "## Modules and their dependencies"), "the page has no modules section")
        let open = try #require(page.range(of: "```\n", range: section.upperBound..<page.endIndex))
        let close = try #require(page.range(of: "\n```", range: open.upperBound..<page.endIndex))
        return page[open.upperBound..<close.lowerBound].split(separator: "\n").map { line in
            let names = line.components(separatedBy: "  ").first ?? ""
            return names.components(separatedBy: " · ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
    }

    static func read(_ path: String) throws -> String { try String(contentsOfFile: "\(root)/\(path)", encoding: .utf8) }

    @Test func everyTargetAndEdgeIsOnThePage() throws {
        let package = try Self.packageTargets(try Self.read("Package.swift"))
        let page = Self.documentedTargets(try Self.read("docs/architecture.md"))
        #expect(package.count > 20, "Package.swift was not read: \(package.keys.sorted())")
        for (name, target) in package.sorted(by: { $0.key < $1.key }) {
            guard let documented = page[name] else {
                Issue.record("\(name) (\(target)) is not in docs/architecture.md: add a row to its tables")
                continue
            }
            #expect(documented == target, "docs/architecture.md says \(name) is a \(documented); Package.swift: \(target)")
        }
        let gone = Set(page.keys).subtracting(package.keys)
        #expect(gone.isEmpty, "docs/architecture.md names targets Package.swift does not have: \(gone.sorted())")
    }

    @Test func theLayerDiagramPutsEveryTargetAboveWhatItUses() throws {
        let package = try Self.packageTargets(try Self.read("Package.swift"))
        let layers = try Self.layers(try Self.read("docs/architecture.md"))
        var line: [String: Int] = [:]
        for (i, names) in layers.enumerated() {
            for name in names {
                #expect(line[name] == nil, "\(name) stands twice in the layer diagram")
                line[name] = i
            }
        }
        let shipped = package.filter { $0.value.kind != "test" && !$0.value.dependencies.contains("SmigTestSupport") }
        let tools = ["SmigTestSupport", "smig-fuzz", "smig-migration-crash", "smig-rctcb-hooked"]
        for (name, target) in shipped.sorted(by: { $0.key < $1.key }) where !tools.contains(name) {
            guard let own = line[name] else {
                Issue.record("\(name) is not in the layer diagram of docs/architecture.md")
                continue
            }
            for dependency in target.dependencies.sorted() {
                #expect((line[dependency] ?? -1) > own, "in the layer diagram, \(name) uses \(dependency), which must stand on a line below it")
            }
        }
        #expect(Set(line.keys).subtracting(package.keys).isEmpty, "the layer diagram names targets Package.swift does not have")
    }

    /// The parser finds what it should in a manifest it has not seen, so the checks above cannot pass on nothing.
    @Test func theManifestParserReadsDeclarationsAndEdges() throws {
        let manifest = """
            .systemLibrary(name: "CLib", pkgConfig: "lib"),
            .target(name: "A", dependencies: ["CLib", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: x),
            .target(
                name: "B",
                dependencies: [
                    "A",
                    .product(name: "Yams", package: "Yams"),
                ]
            ),
            .testTarget(name: "BTests", dependencies: ["B", "A"]),
            .executableTarget(name: "tool", dependencies: ["B"], path: "Tests/Tool"),
            """
        let targets = try Self.packageTargets(manifest)
        #expect(targets == [
            "CLib": Target(kind: "system library", dependencies: []),
            "A": Target(kind: "library", dependencies: ["CLib"]),
            "B": Target(kind: "library", dependencies: ["A"]),
            "BTests": Target(kind: "test", dependencies: ["B", "A"]),
            "tool": Target(kind: "executable", dependencies: ["B"]),
        ])
        let page = "| `A` | library | `CLib` | text |\n| `CLib` | system library | — | text |\n| not | a | row |"
        #expect(Self.documentedTargets(page) == ["A": Target(kind: "library", dependencies: ["CLib"]),
                                                  "CLib": Target(kind: "system library", dependencies: [])])
    }
}
