import ArgumentParser

// SCAFFOLD: replaced by the module owner during this session.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "(in progress)")
    func run() throws { throw ValidationError("'info' is not built yet") }
}
