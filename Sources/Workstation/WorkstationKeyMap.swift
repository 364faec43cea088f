/// Everything a key (or a `:` command) can ask the workstation to do.
public enum WorkstationAction: Hashable, Sendable {
    case quit, help, commandLine, escape, redraw
    case nextCase, previousCase
    case nextLead, previousLead, toggleZoom, toggleMedianBeat, cycleRhythmLead
    case cursorLeft, cursorRight, cursorLeftFast, cursorRightFast, toggleCaliper, snapNext, snapPrevious
    case windowForward, windowBack, windowStart, windowEnd, cycleDisplayFilter
    case gainUp, gainDown, speedUp, speedDown, resetPaper
    case toggleGradCAM, nextGradCAMHead, previousGradCAMHead, toggleUnreliable
    case nextPane, previousPane, scrollDown, scrollUp
    case playPause, stepFrameForward, stepFrameBack, newSeed, toggleAnatomyRange
    case export, exportForPACS
}

extension WorkstationAction {
    /// The one key table: dispatch, the `?` overlay and docs/user-guide.md all come from it.
    public static let keyMap = KeyMap<WorkstationAction>([
        KeyBinding([.character("n"), .pageDown, .character("]")], .nextCase, section: "Cases", "next ECG in the folder"),
        KeyBinding([.character("p"), .pageUp, .character("[")], .previousCase, section: "Cases", "previous ECG"),
        KeyBinding([.character("e")], .export, section: "Cases", "export CMR cines (PNG) + manifest"),
        KeyBinding([.character("E")], .exportForPACS, section: "Cases", "export + DICOM + PDF report (for PACS)"),

        KeyBinding([.character("j"), .down], .nextLead, section: "Traces", "select next lead"),
        KeyBinding([.character("k"), .up], .previousLead, section: "Traces", "select previous lead"),
        KeyBinding([.character("z"), .enter], .toggleZoom, section: "Traces", "zoom selected lead full width / back"),
        KeyBinding([.character("m")], .toggleMedianBeat, section: "Traces", "median beat, ecg2cmr's + device's marks"),
        KeyBinding([.character("r")], .cycleRhythmLead, section: "Traces", "rhythm strip: next lead"),
        KeyBinding([.character("+"), .character("=")], .gainUp, section: "Traces", "gain up (mm/mV)"),
        KeyBinding([.character("-")], .gainDown, section: "Traces", "gain down"),
        KeyBinding([.character(">")], .speedUp, section: "Traces", "paper speed up (mm/s)"),
        KeyBinding([.character("<")], .speedDown, section: "Traces", "paper speed down"),
        KeyBinding([.character("0")], .resetPaper, section: "Traces", "25 mm/s, 10 mm/mV"),
        KeyBinding([.character("f")], .cycleDisplayFilter, section: "Traces", "display filter: off→0.67–150→0.5–40→notch"),
        KeyBinding([.character("}")], .windowForward, section: "Traces", "next window (grid and rhythm strip move)"),
        KeyBinding([.character("{")], .windowBack, section: "Traces", "previous window of the record"),
        KeyBinding([.home], .windowStart, section: "Traces", "start of the record"),
        KeyBinding([.end], .windowEnd, section: "Traces", "end of the record"),

        KeyBinding([.character("h"), .left], .cursorLeft, section: "Caliper", "cursor left 4 ms"),
        KeyBinding([.character("l"), .right], .cursorRight, section: "Caliper", "cursor right 4 ms"),
        KeyBinding([.character("H")], .cursorLeftFast, section: "Caliper", "cursor left 40 ms (1 mm at 25 mm/s)"),
        KeyBinding([.character("L")], .cursorRightFast, section: "Caliper", "cursor right 40 ms"),
        KeyBinding([.character("o")], .snapNext, section: "Caliper", "cursor to the next onset/offset/R peak"),
        KeyBinding([.character("O")], .snapPrevious, section: "Caliper", "cursor to the previous onset/offset/R peak"),
        KeyBinding([.character("c")], .toggleCaliper, section: "Caliper", "set / clear caliper at cursor (interval)"),

        KeyBinding([.character("g")], .toggleGradCAM, section: "Model", "Grad-CAM on / off"),
        KeyBinding([.character("G")], .nextGradCAMHead, section: "Model", "Grad-CAM: next head"),
        KeyBinding([.character("B")], .previousGradCAMHead, section: "Model", "Grad-CAM: previous head"),
        KeyBinding([.character("u")], .toggleUnreliable, section: "Model", "show withheld outputs greyed (OOD ECG)"),

        KeyBinding([.tab], .nextPane, section: "Panels", "next panel"),
        KeyBinding([.backTab], .previousPane, section: "Panels", "previous panel"),
        KeyBinding([.character("J")], .scrollDown, section: "Panels", "scroll panel down"),
        KeyBinding([.character("K")], .scrollUp, section: "Panels", "scroll panel up"),

        KeyBinding([.character(" ")], .playPause, section: "CMR", "play / pause cine"),
        KeyBinding([.character(".")], .stepFrameForward, section: "CMR", "next frame"),
        KeyBinding([.character(",")], .stepFrameBack, section: "CMR", "previous frame"),
        KeyBinding([.character("s")], .newSeed, section: "CMR", "generate again with a new seed"),
        KeyBinding([.character("a")], .toggleAnatomyRange, section: "CMR", "heart: point estimate ↔ 80 % range draw"),

        KeyBinding([.character("?"), .function(1)], .help, section: "General", "this help"),
        KeyBinding([.character(":")], .commandLine, section: "General", "command line (:help lists commands)"),
        KeyBinding([.escape], .escape, section: "General", "close overlay / zoom / command"),
        KeyBinding([.ctrl("l")], .redraw, section: "General", "redraw the screen"),
        KeyBinding([.character("q"), .ctrl("c")], .quit, section: "General", "quit"),
    ])

    /// The status line when Grad-CAM is turned on and no head is chosen (nothing flagged).
    public static let noGradCAMHint = "nothing flagged, so no head by default — pick one with :head NAME (e.g. :head cad) or G / B"

    /// `:` commands, for the help text and completion hints.
    public static let commands: [(String, String)] = [
        ("open PATH", "open an ECG file or folder"),
        ("case N", "go to case N (1-based)"),
        ("lead NAME", "select a lead (I, aVR, V1 …)"),
        ("gain MM", "gain in mm/mV (2.5, 5, 10, 20, 40)"),
        ("speed MM", "paper speed in mm/s (12.5, 25, 50, 100)"),
        ("filter NAME", "display filter: none (off), diagnostic (0.67–150 Hz), monitor (0.5–40 Hz), notch50, notch60"),
        ("goto SECONDS", "show the window holding this time of the record"),
        ("head NAME", "Grad-CAM head by id or label (cad, af, lge, atrial fibrillation …), turns Grad-CAM on"),
        ("seed N", "CMR generation seed"),
        ("export [--dicom] [--pdf] [DIR]", "export CMR PNGs and manifest (default exports/); --dicom adds multi-frame DICOM, --pdf the PDF report (both: also Encapsulated PDF)"),
        ("graphics", "how CMR images are drawn (kitty, sixel or half blocks) and why"),
        ("quit", "quit (also :q)"),
    ]
}
