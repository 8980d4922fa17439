package import ArgumentParser
import Agent
import Foundation

extension AgentCommand {
    /// `smig-attest agent xl-stream accept|connect`: the two ends of a Xen migration stream between agents (``XLStream``).
    /// The agent with the `xl` VM manager starts them; they are not meant to be run by hand.
    package struct XLStreamCommand: ParsableCommand {
        package static let configuration = CommandConfiguration(
            commandName: "xl-stream",
            abstract: "The migration stream between two Xen dom0s' agents, in place of ssh (started by the agent's xl VM manager).",
            discussion: """
            accept: standard input is a listening socket; the first connection that presents the token in \
            \(XLStream.tokenVariable) becomes `xl migrate-receive -p` (the destination stays paused). \
            connect: xl's transport (`xl migrate -s "smig-attest agent xl-stream connect" -p VM xl-stream://HOST:PORT`): \
            connects, presents the token, relays xl's stream. The stream is not encrypted: keep it on the migration network.
            """,
            subcommands: [Accept.self, Connect.self])

        package init() {}

        static func token() throws -> String {
            guard let token = ProcessInfo.processInfo.environment[XLStream.tokenVariable], token.count >= 32 else {
                throw ValidationError("\(XLStream.tokenVariable) holds no token (the agent sets it)")
            }
            return token
        }

        package struct Accept: ParsableCommand {
            package static let configuration = CommandConfiguration(abstract: "Receive one stream on the listening socket given as standard input.")
            @Option(help: "The xl executable.") var xl = "xl"
            @Option(help: ArgumentHelp("Seconds to wait for the stream.", valueName: "seconds")) var window = 600

            package init() {}

            package func run() throws {
                try Output.reporting { try receive() }
            }

            func receive() throws {
                let token = try XLStreamCommand.token()
                let connection: Int32
                do { connection = try XLStream.acceptPresenting(token, on: 0, until: .now + .seconds(window)) } catch {
                    throw CommandFailure("xl-stream accept: \(error)", exitCode: 1)
                }
                do { try XLStream.exec([xl, "migrate-receive", "-p"], on: connection) } catch {
                    throw CommandFailure("xl-stream accept: \(error)", exitCode: 1)
                }
            }
        }

        package struct Connect: ParsableCommand {
            package static let configuration = CommandConfiguration(abstract: "xl's transport: relay the stream to the target's receiver.")
            @Argument(help: "xl-stream://HOST:PORT (what xl passes as the host).") var address: String
            @Argument(parsing: .captureForPassthrough, help: "The receiving command xl asks for (the target decides what runs; ignored).")
            var receiver: [String] = []

            package init() {}

            package func run() throws {
                try Output.reporting { try send() }
            }

            func send() throws {
                let token = try XLStreamCommand.token()
                let target: XLStream.Address
                do { target = try XLStream.Address(parsing: address) } catch { throw ValidationError("\(error)") }
                do {
                    let connection = try XLStream.connect(target, token: token)
                    XLStream.relay(connection)
                } catch {
                    throw CommandFailure("xl-stream connect: \(error)", exitCode: 1)
                }
            }
        }
    }
}
