import ArgumentParser

// SCAFFOLD: replaced by the module owner during this session.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "(in progress)")
    func run() throws { throw ValidationError("'export' is not built yet") }
}
