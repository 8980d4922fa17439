import ArgumentParser
import SmigAttestCLI
import Testing

/// `smig-attest bench region`'s store options, refused before anything starts.
@Suite("bench region options")
struct BenchRegionOptionsTests {
    @Test(arguments: [["--store", "sqlite"], ["--store", "postgresql"], ["--store", "sqlite,postgresql"], ["--store", "postgresql, sqlite"],
                      ["--store", "sqlite,postgresql", "--store-url", "postgresql://bench@127.0.0.1:5432/bench"]])
    func storesParse(_ arguments: [String]) throws {
        _ = try BenchRegion.parse(["--hosts", "20"] + arguments)
    }

    @Test(arguments: [["--store", "mysql"], ["--store", "sqlite,sqlite"], ["--store", ""], ["--store", "sqlite,"],
                      ["--store-url", "postgresql://bench@127.0.0.1:5432/bench"],
                      ["--store", "postgresql", "--store-url", "mysql://127.0.0.1/bench"]])
    func badStoresAreRefused(_ arguments: [String]) {
        #expect(throws: (any Error).self) { try BenchRegion.parse(["--hosts", "20"] + arguments) }
    }
}
