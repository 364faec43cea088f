import ArgumentParser

// SCAFFOLD: replaced by the module owner during this session.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "convert", abstract: "(in progress)")
    func run() throws { throw ValidationError("'convert' is not built yet") }
}
