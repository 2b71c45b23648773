// The fork/exec window behind LogConfiguration.lockWaitMillis: one thread opens, flocks and closes a LOCK file in a
// loop while another spawns /bin/true; counts refused locks and the longest wait until one is granted.
//   swiftc -O benchmarks/lockrace/main.swift -o /tmp/lockrace && /tmp/lockrace
import Foundation
import Glibc
let dir = NSTemporaryDirectory() + "lockrace-\(getpid())"
try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
let path = dir + "/LOCK"
let spawner = Thread {
    while true {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try! p.run(); p.waitUntilExit()
    }
}
spawner.start()
var failures = 0
let start = Date()
var tries = 0
var maxWait = 0.0
while Date().timeIntervalSince(start) < 10 {
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    if flock(fd, LOCK_EX | LOCK_NB) != 0 {
        failures += 1
        let t0 = Date()
        while flock(fd, LOCK_EX | LOCK_NB) != 0 { usleep(100) }
        maxWait = max(maxWait, Date().timeIntervalSince(t0))
    }
    close(fd)
    tries += 1
}
print("tries \(tries) failures \(failures) maxWait \(maxWait)")
exit(0)
