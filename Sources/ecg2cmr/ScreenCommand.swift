import ArgumentParser

// SCAFFOLD: replaced by the module owner during this session.
struct ScreenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "screen", abstract: "(in progress)")
    func run() throws { throw ValidationError("'screen' is not built yet") }
}
