import ArgumentParser
import SmigAttestCLI

/// The thin executable: everything lives in SmigAttestCLI.
@main
struct SmigAttestMain {
    static func main() async {
        await SmigAttest.runMain()
    }
}
