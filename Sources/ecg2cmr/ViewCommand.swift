import ArgumentParser

// SCAFFOLD: replaced by the module owner during this session.
struct ViewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "view", abstract: "(in progress)")
    func run() throws { throw ValidationError("'view' is not built yet") }
}
