import Attestation
import RegionTCB

/// `verify --enrolled HOST`: the AK the RC-TCB recorded for HOST at enrolment.
enum EnrolledAK {
    static func lookup(host: String, rctcbDirectory: String) throws -> AKPin {
        let dir = RegionDirectory(rctcbDirectory)
        do {
            try dir.requireInitialised()
            let store = try IVTStore(path: dir.database)
            guard let e = try store.enrolment(host) else {
                throw CommandFailure("enrol.not-enrolled: host \(host) has no enrolled AK in \(dir.database)", exitCode: 1)
            }
            guard !e.revoked else { throw CommandFailure("enrol.revoked: host \(host) is revoked", exitCode: 1) }
            return .publicArea(try AttestationKey(tpm2bPublic: e.akPublic))
        } catch let e as RegionError {
            throw CommandFailure("\(e)", exitCode: 2)
        } catch let e as AttestationError {
            throw CommandFailure("the enrolled AK of \(host) does not parse: \(e)", exitCode: 2)
        }
    }
}
