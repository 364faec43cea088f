import Foundation

// How an MRMC result reads: plain text for the terminal, a Markdown section for report.md, and one
// tidy CSV (mrmc.csv). Undefined values are printed as "—" (text) or left empty (CSV), never NaN.

extension MRMCResult {
    static func f(_ v: Double?, _ digits: Int = 7) -> String {
        guard let v, v.isFinite else { return "—" }
        return String(format: "%.\(digits)g", v)
    }
    public static func fixed(_ v: Double?, _ decimals: Int = 4) -> String {
        guard let v, v.isFinite else { return "—" }
        return String(format: "%.\(decimals)f", v)
    }
    public static func p(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "—" }
        return v < 0.0001 ? "< 0.0001" : String(format: "%.4f", v)
    }

    public var level: String { String(format: "%g %%", confidenceLevel * 100) }
    public var metricLabel: String {
        switch metric {
        case "empirical_auc": return "AUC"
        case "binary_sens": return "sensitivity"
        case "binary_spec": return "specificity"
        default: return metric
        }
    }
    var methodLine: String {
        "Obuchowski–Rockette analysis, \(factors.rawValue)" + (covariance.map { ", \($0.rawValue) covariance" } ?? "")
            + (design == .factorial ? "" : ", \(design.rawValue)")
            + (factors == .randomReadersRandomCases ? ", Hillis denominator df" : "")
    }

    /// Terminal report (what `ecg2cmr study mrmc` prints).
    public var text: String {
        var out = ["Multi-reader multi-case analysis of \(metric) (\(methodLine))",
                   "\(treatments.count) treatments (\(treatments.joined(separator: ", "))), \(readers.count) readers, \(cases) cases (\(positives) positive, \(negatives) negative)" + (casesUsed != cases ? "; \(casesUsed) used by \(metricLabel)" : ""), ""]
        out.append("Reader \(metricLabel):")
        out.append("  " + "reader".padding(toLength: 14, withPad: " ", startingAt: 0) + treatments.map { String($0.prefix(14)).leftPad(15) }.joined())
        for (r, name) in readers.enumerated() {
            out.append("  " + String(name.prefix(14)).padding(toLength: 14, withPad: " ", startingAt: 0) + treatments.indices.map { Self.fixed(performance[$0][r]).leftPad(15) }.joined())
        }
        if let c = components {
            out += ["", "Variance components:"]
            let corr = c.correlations
            for (name, value, r) in [("reader", c.reader, nil), ("treatment:reader", c.treatmentReader, nil), ("error", c.error, nil),
                                     ("Cov1", c.cov1, corr?[0]), ("Cov2", c.cov2, corr?[1]), ("Cov3", c.cov3, corr?[2])] as [(String, Double, Double?)] {
                out.append("  " + name.padding(toLength: 18, withPad: " ", startingAt: 0) + Self.f(value).leftPad(14) + (r.map { "   r = " + Self.f($0) } ?? ""))
            }
        }
        out += ["", "Mean squares: MS(T) \(Self.f(meanSquares.treatment)), MS(R) \(Self.f(meanSquares.reader)), MS(T:R) \(Self.f(meanSquares.treatmentReader))"]
        let g = globalTest
        out += ["", "Global test of equal treatment \(metricLabel):",
                "  \(g.statistic) = \(Self.f(g.value)), df1 = \(Self.f(g.df1))" + (g.df2.map { ", df2 = \(Self.f($0))" } ?? "") + ", p = \(Self.f(g.p))"
                + (g.denominator.map { "  (denominator \(Self.f($0)))" } ?? "")]
        out += ["", "\(level) CIs and tests of the pairwise differences:"]
        for d in differences { out.append("  " + differenceLine(d)) }
        out += ["", "\(level) CIs of each treatment's reader-averaged \(metricLabel) (each from that treatment's data only):"]
        for m in treatmentMeans {
            out.append("  \(m.treatment): \(Self.fixed(m.estimate)) (\(Self.fixed(m.lower))–\(Self.fixed(m.upper))), SE \(Self.f(m.standardError))" + (m.df.map { ", df \(Self.f($0))" } ?? ""))
        }
        if !readerDifferences.isEmpty {
            out += ["", "Reader-specific differences (\(level) CIs, z tests):"]
            for d in readerDifferences { out.append("  \(d.reader ?? ""): " + differenceLine(d)) }
        }
        if !notes.isEmpty { out += ["", "Notes:"] + notes.map { "  - " + $0 } }
        return out.joined(separator: "\n")
    }

    func differenceLine(_ d: MRMCDifference) -> String {
        "\(d.first) − \(d.second): \(Self.fixed(d.estimate)) (\(Self.fixed(d.lower)) to \(Self.fixed(d.upper))), SE \(Self.f(d.standardError))"
            + (d.df.map { ", df \(Self.f($0)), t = " } ?? ", z = ") + "\(Self.f(d.statistic)), p = \(Self.f(d.p))"
    }

    /// report.md section (tables), headed by `##`.
    public var markdown: String {
        var md = ["## Multi-reader multi-case analysis", "",
                  "\(methodLine) of the readers' \(metricLabel) (10-level rating from the call and its confidence), as MRMCaov computes it. Readers and cases are random effects unless said otherwise: the test asks whether the stages differ for readers and cases beyond those in this study. Cases: \(cases) (\(positives) positive, \(negatives) negative).", "",
                  "| stage | reader-averaged \(metricLabel) | \(level) CI | SE | df |", "| --- | --- | --- | --- | --- |"]
        for m in treatmentMeans { md.append("| \(m.treatment) | \(Self.fixed(m.estimate, 3)) | \(Self.fixed(m.lower, 3))–\(Self.fixed(m.upper, 3)) | \(Self.f(m.standardError, 4)) | \(Self.f(m.df, 4)) |") }
        md += ["", "| difference | estimate | \(level) CI | \(differences.first?.df == nil ? "z" : "t") | df | p |", "| --- | --- | --- | --- | --- | --- |"]
        for d in differences {
            md.append("| \(d.first) − \(d.second) | \(Self.fixed(d.estimate, 3)) | \(Self.fixed(d.lower, 3)) to \(Self.fixed(d.upper, 3)) | \(Self.fixed(d.statistic, 2)) | \(Self.f(d.df, 4)) | \(Self.p(d.p)) |")
        }
        let g = globalTest
        md += ["", "Global test: \(g.statistic) = \(Self.f(g.value, 4)), df = \(Self.f(g.df1, 3))" + (g.df2.map { ", \(Self.f($0, 4))" } ?? "") + ", p = \(Self.p(g.p))."]
        if let c = components {
            md += ["", "Variance components: reader \(Self.f(c.reader, 4)), treatment×reader \(Self.f(c.treatmentReader, 4)), error \(Self.f(c.error, 4)), Cov1 \(Self.f(c.cov1, 4)), Cov2 \(Self.f(c.cov2, 4)), Cov3 \(Self.f(c.cov3, 4)); MS(T) \(Self.f(meanSquares.treatment, 4)), MS(T:R) \(Self.f(meanSquares.treatmentReader, 4))."]
        }
        if !notes.isEmpty { md += [""] + notes.map { "- " + $0 } }
        return md.joined(separator: "\n")
    }

    /// mrmc.csv: one tidy table — section, treatment(s), reader, estimate, SE, df, CI, statistic, p.
    public var csv: String {
        func n(_ v: Double?) -> String { v.flatMap { $0.isFinite ? String($0) : nil } ?? "" }
        func q(_ s: String) -> String { RatingsFile.field(s) }
        var lines = ["metric,section,treatment,comparison,reader,estimate,std_err,df,ci_low,ci_high,statistic,p,method"]
        let method = q(methodLine)
        for (t, name) in treatments.enumerated() { for (r, reader) in readers.enumerated() {
            lines.append(["reader", q(name), "", q(reader), n(performance[t][r]), "", "", "", "", "", "", method].joined(separator: ","))
        } }
        for m in readerMeans {
            lines.append(["reader_ci", q(m.treatment), "", q(m.reader ?? ""), n(m.estimate), n(m.standardError), "", n(m.lower), n(m.upper), "", "", method].joined(separator: ","))
        }
        for m in treatmentMeans {
            lines.append(["treatment_mean", q(m.treatment), "", "", n(m.estimate), n(m.standardError), n(m.df), n(m.lower), n(m.upper), "", "", method].joined(separator: ","))
        }
        for d in differences + readerDifferences {
            lines.append([d.reader == nil ? "difference" : "reader_difference", "", q("\(d.first) - \(d.second)"), q(d.reader ?? ""), n(d.estimate), n(d.standardError),
                          n(d.df), n(d.lower), n(d.upper), n(d.statistic), n(d.p), method].joined(separator: ","))
        }
        let g = globalTest
        lines.append(["global_test_\(g.statistic)", "", "", "", n(g.value), "", [n(g.df1), n(g.df2)].filter { !$0.isEmpty }.joined(separator: " "), "", "", n(g.denominator), n(g.p), method].joined(separator: ","))
        if let c = components {
            for (name, v) in [("var_reader", c.reader), ("var_treatment_reader", c.treatmentReader), ("var_error", c.error), ("cov1", c.cov1), ("cov2", c.cov2), ("cov3", c.cov3)] {
                lines.append(["variance_component", "", "", "", n(v), "", "", "", "", "", "", q(name)].joined(separator: ","))
            }
        }
        for (name, v) in [("ms_t", meanSquares.treatment), ("ms_r", meanSquares.reader), ("ms_tr", meanSquares.treatmentReader)] {
            lines.append(["mean_square", "", "", "", n(v), "", "", "", "", "", "", q(name)].joined(separator: ","))
        }
        return ([lines[0]] + lines.dropFirst().map { metric + "," + $0 }).joined(separator: "\n") + "\n"
    }
}

extension MRMCPowerTable {
    /// Readers down, cases across.
    public var text: String {
        let readers = Array(Set(points.map(\.readers))).sorted(), cases = Array(Set(points.map(\.cases))).sorted()
        var out = ["Power to detect a difference of \(String(format: "%g", effect)) at α = \(String(format: "%g", alpha)) (\(factors.rawValue); Hillis, Obuchowski & Berbaum 2011)",
                   "Pilot: \(pilotCases) cases; σ²_TR \(MRMCResult.f(treatmentReaderVariance, 4)), Var \(MRMCResult.f(components.error, 4)), Cov1 \(MRMCResult.f(components.cov1, 4)), Cov2 \(MRMCResult.f(components.cov2, 4)), Cov3 \(MRMCResult.f(components.cov3, 4))", "",
                   "readers \\ cases" + cases.map { String($0).leftPad(8) }.joined()]
        for j in readers {
            out.append(String(j).padding(toLength: 15, withPad: " ", startingAt: 0) + cases.map { k in
                points.first { $0.readers == j && $0.cases == k }.map { String(format: "%.2f", $0.power).leftPad(8) } ?? "—".leftPad(8)
            }.joined())
        }
        return out.joined(separator: "\n")
    }
}
