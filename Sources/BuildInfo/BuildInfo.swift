/// What this build of smig-attest is: the release version, and (generated before each build by the BuildInfo
/// plugin, see scripts/build-info) the git commit it was built from and the day it was built.
package enum BuildInfo {
    /// The release version.
    package static let version = "0.9.0"

    /// `smig-attest --version`: `0.9.0 (commit 1a2b3c4d5e6f, built 2026-12-05)`.
    package static var description: String { "\(version) (commit \(commit), built \(date))" }
}
