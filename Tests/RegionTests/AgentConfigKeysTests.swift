import Agent
import Testing

/// agent.json's keys are declared once (`AgentConfig.CodingKeys`): a setting added as a stored property without its
/// key would be refused in every file as unknown (an optional property compiles without one), so every stored
/// property must have its key, and every key its property.
@Suite("agent.json keys")
struct AgentConfigKeysTests {
    @Test func everyStoredPropertyHasItsKey() {
        let config = AgentConfig(hostId: "host-a", rctcb: "https://127.0.0.1:8443", stateDirectory: "/var/lib/smig-attest")
        let properties = Mirror(reflecting: config).children.compactMap(\.label)
        #expect(properties.sorted() == AgentConfig.CodingKeys.allCases.map(\.rawValue).sorted())
    }
}
