internal import CTSS2
import TPMWire

/// Conversions between this project's wire bytes and tpm2-tss C structures, through tss2-mu. Keeping every
/// structure as bytes on the Swift side means C types never leave this target.
enum CMarshal {
    typealias Unmarshal<T> = (UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<Int>?, UnsafeMutablePointer<T>?) -> TSS2_RC
    typealias Marshal<T> = (UnsafePointer<T>?, UnsafeMutablePointer<UInt8>?, Int, UnsafeMutablePointer<Int>?) -> TSS2_RC

    /// Decodes `bytes` into a zero-initialised C structure; all bytes must be consumed.
    static func decode<T>(_ bytes: [UInt8], _ fn: Unmarshal<T>, _ what: String) throws -> T {
        let p = UnsafeMutablePointer<T>.allocate(capacity: 1)
        defer { p.deallocate() }
        UnsafeMutableRawPointer(p).initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.size)
        var offset = 0
        let rc = bytes.withUnsafeBufferPointer { fn($0.baseAddress, $0.count, &offset, p) }
        try check(rc, "Tss2_MU_\(what)_Unmarshal")
        guard offset == bytes.count else {
            throw TPMDeviceError(.badArgument, "\(what): \(bytes.count - offset) bytes left over")
        }
        return UnsafeMutableRawPointer(p).load(as: T.self)
    }

    /// Encodes a C structure to its wire bytes.
    static func encode<T>(_ value: UnsafePointer<T>, _ fn: Marshal<T>, _ what: String) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: MemoryLayout<T>.size + 64)
        var offset = 0
        let rc = buffer.withUnsafeMutableBufferPointer { fn(value, $0.baseAddress, $0.count, &offset) }
        try check(rc, "Tss2_MU_\(what)_Marshal")
        return Array(buffer.prefix(offset))
    }

    static func encode<T>(_ value: T, _ fn: Marshal<T>, _ what: String) throws -> [UInt8] {
        var copy = value
        return try withUnsafePointer(to: &copy) { try encode($0, fn, what) }
    }

    static func sized(_ bytes: [UInt8]) -> [UInt8] {
        var w = WireWriter()
        w.write(sized: bytes)
        return w.bytes
    }

    static func data(_ bytes: [UInt8]) throws -> TPM2B_DATA {
        try decode(sized(bytes), Tss2_MU_TPM2B_DATA_Unmarshal, "TPM2B_DATA")
    }

    static func publicTemplate(_ area: PublicArea) throws -> TPM2B_PUBLIC {
        try decode(Public(area).wireBytes, Tss2_MU_TPM2B_PUBLIC_Unmarshal, "TPM2B_PUBLIC")
    }

    static func pcrSelection(_ list: PCRSelectionList) throws -> TPML_PCR_SELECTION {
        try decode(list.wireBytes, Tss2_MU_TPML_PCR_SELECTION_Unmarshal, "TPML_PCR_SELECTION")
    }

    static func emptySensitive() throws -> TPM2B_SENSITIVE_CREATE {
        // size 4: TPMS_SENSITIVE_CREATE { userAuth: TPM2B (0), data: TPM2B (0) }
        try decode([0, 4, 0, 0, 0, 0], Tss2_MU_TPM2B_SENSITIVE_CREATE_Unmarshal, "TPM2B_SENSITIVE_CREATE")
    }
}
