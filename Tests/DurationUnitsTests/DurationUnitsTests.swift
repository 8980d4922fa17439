import DurationUnits
import Testing

@Suite("Duration in seconds and milliseconds")
struct DurationUnitsTests {
    @Test("seconds and attoseconds both count", arguments: [
        (Duration.seconds(2), 2.0, 2000.0, Int64(2000)),
        (Duration.milliseconds(1500), 1.5, 1500.0, Int64(1500)),
        (Duration.microseconds(2500), 0.0025, 2.5, Int64(2)),
        (Duration.nanoseconds(1), 1e-9, 1e-6, Int64(0)),
        (Duration.seconds(-1) - .milliseconds(500), -1.5, -1500.0, Int64(-1500)),
        (Duration.zero, 0.0, 0.0, Int64(0)),
    ])
    func units(_ d: Duration, seconds: Double, milliseconds: Double, whole: Int64) {
        #expect(abs(d.inSeconds - seconds) <= abs(seconds) * 1e-12)
        #expect(abs(d.inMilliseconds - milliseconds) <= abs(milliseconds) * 1e-12)
        #expect(d.wholeMilliseconds == whole)
    }
}
