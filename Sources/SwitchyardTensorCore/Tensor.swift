/// A Float32 tensor: a shape over one flat, contiguous, 64-byte-aligned buffer in
/// row-major order.
///
/// `Tensor` is a reference type, like the explicit activation and gradient buffers
/// of llm.c: layers allocate their tensors once per shape and reuse them every step,
/// and kernels read and write them through ``pointer`` without copies. Two variables
/// naming one tensor share its storage; use ``copy()`` for an independent one.
///
/// ```swift
/// let x = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
/// x[1, 2]            // 6
/// x.pointer[4]       // 5, the flat row-major index
/// ```
public final class Tensor: @unchecked Sendable {
    /// The extent of each axis, outermost first.
    public let shape: [Int]
    /// The number of elements, the product of ``shape`` (1 for a scalar of shape `[]`).
    public let count: Int
    /// The first element. Valid for ``count`` elements while the tensor is alive.
    public let pointer: UnsafeMutablePointer<Float>

    /// A tensor of the given shape filled with zeros.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor shape \(shape) has a negative extent")
        self.shape = shape
        self.count = shape.reduce(1, *)
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        self.pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    /// A tensor of the given shape holding `values` in row-major order.
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count,
                     "Tensor shape \(shape) needs \(count) values, got \(values.count)")
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    /// A tensor of the given shape filled with `value`.
    public convenience init(shape: [Int], repeating value: Float) {
        self.init(shape: shape)
        pointer.update(repeating: value, count: count)
    }

    deinit {
        UnsafeMutableRawPointer(pointer).deallocate()
    }

    /// The number of axes.
    public var rank: Int { shape.count }

    /// The whole storage as a buffer, for loops that want bounds in debug builds.
    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }

    /// The elements in row-major order, copied into an array.
    public var array: [Float] { Array(buffer) }

    /// The element at a multi-index; for tests and small reads, not for hot loops.
    public subscript(indices: Int...) -> Float {
        get { pointer[flatIndex(indices)] }
        set { pointer[flatIndex(indices)] = newValue }
    }

    /// The row-major flat offset of a multi-index.
    public func flatIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == shape.count,
                     "index \(indices) has \(indices.count) axes, tensor has shape \(shape)")
        var offset = 0
        for (axis, i) in indices.enumerated() {
            precondition(i >= 0 && i < shape[axis], "index \(indices) is out of range for shape \(shape)")
            offset = offset * shape[axis] + i
        }
        return offset
    }

    /// Sets every element to zero.
    public func zero() { pointer.update(repeating: 0, count: count) }

    /// Sets every element to `value`.
    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }

    /// Copies all elements of `other`, which must have the same number of elements.
    public func assign(_ other: Tensor) {
        precondition(other.count == count, "assign: \(other.shape) into \(shape)")
        pointer.update(from: other.pointer, count: count)
    }

    /// An independent tensor with the same shape and elements.
    public func copy() -> Tensor {
        let t = Tensor(shape: shape)
        t.pointer.update(from: pointer, count: count)
        return t
    }

    /// A new tensor with the same elements in a new shape of the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        let t = Tensor(shape: newShape)
        precondition(t.count == count, "reshape \(shape) to \(newShape) changes the element count")
        t.pointer.update(from: pointer, count: count)
        return t
    }
}

extension Tensor: CustomStringConvertible {
    /// The shape and up to the first eight elements.
    public var description: String {
        let shown = buffer.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(shown)\(count > 8 ? ", …" : "")])"
    }
}
