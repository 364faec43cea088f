/// Fits a head's label into a column without losing the part that tells rows apart. First the
/// abbreviations cardiologists write anyway (CAD, AF, EDV, "WT seg 12" …), then — only if still too
/// long — the label is shortened from the front ("…segment 12"), never from the end where the
/// segment number or the threshold sits.
public enum ClinicalLabel {
    /// Applied in order until the label fits; longer phrases first so "Wall thickness, AHA segment"
    /// becomes "WT seg" rather than "WT, AHA segment".
    static let abbreviations: [(String, String)] = [
        ("Wall thickness, AHA segment", "WT seg"), ("mean wall thickness", "mean WT"), ("Wall thickness", "WT"),
        ("Coronary artery disease", "CAD"), ("Atrial fibrillation", "AF"), ("Heart failure", "HF"),
        ("Pulmonary hypertension", "PH"), ("Late gadolinium enhancement", "LGE"), ("Wall-motion abnormality", "WMA"),
        ("Dilated cardiomyopathy", "DCM"), ("Hypertrophic cardiomyopathy", "HCM"), ("Restrictive cardiomyopathy", "RCM"),
        ("Cardiomyopathy", "CMP"), ("Pericarditis", "Pericard."), ("LV mean wall thickness (ED)", "LV mean WT"),
        ("end-diastolic volume", "EDV"), ("end-systolic volume", "ESV"), ("ejection fraction", "EF"),
        ("stroke volume", "SV"), ("cardiac output", "CO"), ("maximal volume", "Vmax"), ("Native T1", "T1"),
        (" (CMR)", ""), (" ≥ ", "≥"), (" ms", "ms"), (" %", "%"),
    ]

    public static func fit(_ label: String, width: Int) -> String {
        guard width > 0 else { return "" }
        var s = label
        if s.unicodeScalars.count <= width { return s }
        for (long, short) in abbreviations where s.contains(long) {
            s = s.replacingOccurrences(of: long, with: short)
            if s.unicodeScalars.count <= width { return s }
        }
        guard width > 1 else { return String(String.UnicodeScalarView(s.unicodeScalars.suffix(width))) }
        return "…" + String(String.UnicodeScalarView(s.unicodeScalars.suffix(width - 1)))
    }
}
