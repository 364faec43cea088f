import Foundation
import Testing
@testable import Imaging
@testable import ReaderStudy

/// A class of fewer than 10 cases gets no bootstrap (which collapses to "1.000 (1.000–1.000)" on a
/// perfect separation of 3 positives) but the wider of DeLong and an exact interval; every ROC
/// curve is drawn inside the frame; headless answers say "headless".
@Suite struct SmallSampleAUCTests {
    @Test func clopperPearsonMatchesStatsmodels() {
        // statsmodels.stats.proportion.proportion_confint(k, n, method="beta")
        let a = ClopperPearson.interval(successes: 3, total: 3)
        #expect(abs(a.lower - 0.29240177382128663) < 1e-9 && a.upper == 1)
        let b = ClopperPearson.interval(successes: 5, total: 10)
        #expect(abs(b.lower - 0.18708602844739855) < 1e-9 && abs(b.upper - 0.8129139715526015) < 1e-9)
        let c = ClopperPearson.interval(successes: 0, total: 7)
        #expect(c.lower == 0 && abs(c.upper - 0.4096163972250034) < 1e-9)
    }

    @Test func perfectSeparationOfThreePositivesIsNotDegenerate() throws {
        let truth = [true, true, true] + [Bool](repeating: false, count: 30)
        let scores = [0.9, 0.95, 0.99] + (0..<30).map { Double($0) / 100 }
        let s = try #require(SmallSampleAUC.interval(scores: scores, truth: truth))
        #expect(s.positives == 3 && s.negatives == 30)
        #expect(abs(s.interval.lower - 0.29240177382128663) < 1e-9 && s.interval.upper == 1)
        // Both classes ≥ 10: the bootstrap's job, no small-sample interval.
        #expect(SmallSampleAUC.interval(scores: (0..<40).map(Double.init), truth: (0..<40).map { $0 >= 20 }) == nil)
        // An imperfect small class: the interval holds the AUC and is at least DeLong's.
        let t2 = [true, false, true, false, true, false, false, false, true, false, false, false]
        let s2 = try #require(SmallSampleAUC.interval(scores: [0.8, 0.7, 0.6, 0.2, 0.9, 0.65, 0.1, 0.3, 0.4, 0.5, 0.05, 0.35], truth: t2))
        let auc = try #require(ROC.auc(scores: [0.8, 0.7, 0.6, 0.2, 0.9, 0.65, 0.1, 0.3, 0.4, 0.5, 0.05, 0.35], truth: t2))
        #expect(s2.interval.lower < auc && auc < s2.interval.upper)
    }

    @Test func headlessAnswersAreRecordedAsHeadless() {
        #expect(TerminalSize.headless.csvText == "headless" && TerminalSize.headless.description == "headless")
        #expect(TerminalSize.headless.isAtLeast(TerminalSize(columns: 120, rows: 40)))
        #expect(TerminalSize(columns: 120, rows: 40).csvText == "120x40")
    }
}
