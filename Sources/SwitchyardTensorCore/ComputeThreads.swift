import Foundation
import Synchronization

/// The threads that Switchyard's kernels split their work over: the calling thread plus
/// `count − 1` workers that wait for work in a short spin, then sleep.
///
/// Every kernel that runs in parallel (GEMM through ``gemm(_:_:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)``,
/// attention, layer norm, GELU, the element-wise and gather/scatter loops) splits its range into
/// at most ``count`` contiguous parts with ``parallelParts(_:minimumPerPart:_:)``; part 0 runs
/// on the calling thread. The split depends only on the range and the thread count, and no
/// kernel adds partial results from different parts in an order that depends on timing, so a
/// run is reproducible for a fixed thread count.
///
/// OpenBLAS itself is kept at one thread: a GEMM large enough to be worth splitting is split
/// here, by rows or columns of the result, into one single-threaded `sgemm` per part. One pool
/// of threads then serves both the GEMMs and the kernels between them, and no OpenBLAS thread
/// spins for work while the other core runs a Swift loop.
///
/// ```swift
/// ComputeThreads.count = 2          // what `--threads 2` does
/// parallelParts(rows, minimumPerPart: 64) { range, _ in
///     for r in range { ... }        // each part: a contiguous range of rows
/// }
/// ```
public enum ComputeThreads {
    /// The number of threads kernels use (≥ 1). Setting it starts or stops workers, sets
    /// OpenBLAS to one thread and stops OpenBLAS's own worker threads (``BLASThreads/set(_:)``).
    public static var count: Int {
        get { pool.withLock { $0?.threadCount ?? 1 } }
        set {
            precondition(newValue >= 1, "ComputeThreads.count must be at least 1, got \(newValue)")
            BLASThreads.set(1)
            pool.withLock { current in
                if (current?.threadCount ?? 1) == newValue { return }
                current?.shutDown()
                current = newValue > 1 ? WorkerPool(threadCount: newValue) : nil
            }
        }
    }

    /// The pool in force (nil for one thread). Its own lock keeps two callers from using it at
    /// once; this lock only guards replacing it.
    static let pool = Mutex<WorkerPool?>(nil)

    /// The current pool, read without holding the lock during the parallel region.
    @inline(__always)
    static var currentPool: WorkerPool? { pool.withLock { $0 } }
}

/// Splits `0..<count` into at most ``ComputeThreads/count`` contiguous parts of at least
/// `minimumPerPart` elements (fewer parts when the range is small) and calls
/// `body(range, part)` for each, part 0 on the calling thread, the others on the workers;
/// returns when all are done. Parts are as equal as possible, and the split depends only on
/// `count`, `minimumPerPart` and the thread count.
///
/// Nested calls (from inside a part) and calls made while another thread is using the pool run
/// every part on the calling thread, in order, with the same split.
@inline(__always)
public func parallelParts(_ count: Int, minimumPerPart: Int = 1,
                          _ body: (_ range: Range<Int>, _ part: Int) -> Void) {
    let pool = ComputeThreads.currentPool
    let parts = partCount(count, threads: pool?.threadCount ?? 1, minimumPerPart: minimumPerPart)
    if parts <= 1 {
        if count > 0 { body(0..<count, 0) }
        return
    }
    let split = { (p: Int) -> Range<Int> in partRange(p, of: parts, count: count) }
    if let pool, pool.tryAcquire() {
        withoutActuallyEscaping(body) { escaping in
            pool.run(parts: parts) { p in escaping(split(p), p) }
        }
        pool.release()
    } else {
        for p in 0..<parts { body(split(p), p) }
    }
}

/// How many parts ``parallelParts(_:minimumPerPart:_:)`` makes of `count` elements.
@inline(__always)
public func partCount(_ count: Int, threads: Int, minimumPerPart: Int) -> Int {
    max(1, min(threads, count / max(1, minimumPerPart)))
}

/// Part `p` of `parts` near-equal contiguous parts of `0..<count`.
@inline(__always)
public func partRange(_ p: Int, of parts: Int, count: Int) -> Range<Int> {
    (p * count / parts) ..< ((p + 1) * count / parts)
}

/// One generation of work at a time: the caller publishes a job and bumps `generation`; each
/// worker runs its part, then increments `finished`.
final class WorkerPool: @unchecked Sendable {
    let threadCount: Int
    private let generation = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let inUse = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    private let sleepers = NSCondition()
    private var job: ((Int) -> Void)?
    private var jobParts = 0
    private var threads: [Thread] = []

    /// Times a worker polls for new work before it sleeps: 2,000 plain polls, then polls that
    /// each yield the core (a few milliseconds in all: enough to bridge the serial code between
    /// two kernels of a training step without a wake-up).
    private static let spinIterations = 20_000

    init(threadCount: Int) {
        self.threadCount = threadCount
        for index in 1..<threadCount {
            // The thread holds the pool until it stops (after shutDown).
            let thread = Thread { self.workerLoop(index: index) }
            thread.name = "switchyard-compute-\(index)"
            thread.stackSize = 1 << 22
            threads.append(thread)
            thread.start()
        }
    }

    func tryAcquire() -> Bool {
        inUse.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    }

    func release() { inUse.store(false, ordering: .releasing) }

    /// Runs `body(p)` for p in 0..<parts (parts ≤ threadCount): part 0 here, part p on worker p.
    func run(parts: Int, _ body: @escaping (Int) -> Void) {
        job = body
        jobParts = parts
        finished.store(0, ordering: .relaxed)
        generation.add(1, ordering: .releasing)
        sleepers.lock()
        sleepers.broadcast()
        sleepers.unlock()
        body(0)
        let expected = threadCount - 1
        var polls = 0
        while finished.load(ordering: .acquiring) < expected {
            // Give the core away when a worker is slow to finish (another process may hold
            // its core); polling alone would only delay it further.
            polls += 1
            if polls > 2_000 { sched_yield() }
        }
        job = nil
    }

    private func workerLoop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen && spins < Self.spinIterations {
                spins += 1
                if spins > 2_000 { sched_yield() }
                current = generation.load(ordering: .acquiring)
            }
            if current == seen {
                sleepers.lock()
                current = generation.load(ordering: .acquiring)
                while current == seen && !stopping.load(ordering: .acquiring) {
                    sleepers.wait()
                    current = generation.load(ordering: .acquiring)
                }
                sleepers.unlock()
            }
            if stopping.load(ordering: .acquiring) { return }
            seen = current
            if index < jobParts, let job { job(index) }
            finished.add(1, ordering: .releasing)
        }
    }

    /// Stops the workers once they are idle (called only while no job runs).
    func shutDown() {
        stopping.store(true, ordering: .releasing)
        generation.add(1, ordering: .releasing)
        sleepers.lock()
        sleepers.broadcast()
        sleepers.unlock()
    }
}
