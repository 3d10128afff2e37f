import SwitchyardVisionTransformer

/// Named starting points for runs; every field can then be overridden on the command line.
public enum Presets {
    /// The presets in the order `switchyard presets` lists them.
    public static let all: [(name: String, summary: String, configuration: TrainingConfiguration)] = [
        ("fmnist-small",
         "The default: a 4-block ViT (width 64, 4 heads, patch 4) with 4 experts per block on Fashion-MNIST, 3 epochs.",
         fmnistSmall),
        ("seed-cifar10",
         "The seed project's ViT on CIFAR-10 (width 300, 12 blocks, 12 heads, 4 experts of 1024). Needs CIFAR-10 files; hours on a CPU.",
         seedCIFAR10),
        ("tiny",
         "A 2-block ViT (width 32) on the committed Fashion-MNIST subset for a few hundred steps: smoke tests and demos.",
         tiny),
        ("fmnist-small-dsmoe",
         "fmnist-small with DeepSeekMoE's experts, FLOP-matched: 16 routed experts of 64 (top 3) plus 1 shared expert of 64.",
         fmnistSmallDeepSeekMoE),
    ]

    /// The preset called `name`, or nil.
    public static func named(_ name: String) -> TrainingConfiguration? {
        all.first { $0.name == name }?.configuration
    }

    /// `fmnist-small`: 28×28×1 images, patch 4 (49 patches + CLS = 50 tokens), width 64, 4 heads,
    /// depth 4, an MoE feed-forward in every block with 4 experts of hidden width 256, AdamW lr
    /// 1e-3, betas (0.9, 0.999), weight decay 0.05, batch 128, 100 warm-up steps then cosine to 0,
    /// 3 epochs, no dropout, no augmentation.
    public static var fmnistSmall: TrainingConfiguration { TrainingConfiguration() }

    /// `seed-cifar10`: the seed project's configuration (width 300, 12 layers, 12 heads, patch 4,
    /// 4 experts of hidden 1024, classifier hidden 3072, Adam lr 2.5e-4, weight decay 1e-4,
    /// cosine schedule), on CIFAR-10 with crop and flip augmentation.
    public static var seedCIFAR10: TrainingConfiguration {
        var c = TrainingConfiguration()
        c.preset = "seed-cifar10"
        c.model.imageChannels = 3
        c.model.imageSize = 32
        c.model.patchSize = 4
        c.model.width = 300
        c.model.heads = 12
        c.model.depth = 12
        c.model.expertHidden = 1024
        c.model.classifierHidden = 3072
        c.model.router = "random-batch"
        c.data.dataset = "cifar10"
        c.data.cropPadding = 4
        c.data.flip = true
        c.optimizer.learningRate = 2.5e-4
        c.optimizer.weightDecay = 1e-4
        c.optimizer.warmupSteps = 0
        c.batchSize = 128
        c.epochs = 100
        return c
    }

    /// `fmnist-small-dsmoe`: fmnist-small with DeepSeekMoE's fine-grained and shared experts
    /// (Dai et al. 2024), FLOP-matched to it: each of the 4 experts of hidden 256 split into m = 4 of
    /// hidden 64 (16 routed experts), top mK = 4 of which K_s = 1 becomes an always-on shared expert
    /// of hidden 64: the `deepseek-moe` router takes K′ = 3 routed experts per token. Expert FLOPs per
    /// token: 3·4·d·64 + 4·d·64 = 4·d·256, as fmnist-small's top-1 of 256.
    public static var fmnistSmallDeepSeekMoE: TrainingConfiguration {
        var c = TrainingConfiguration()
        c.preset = "fmnist-small-dsmoe"
        c.model.experts = 16
        c.model.expertHidden = 64
        c.model.sharedExperts = 1
        c.model.sharedExpertHidden = 64
        c.model.router = "deepseek-moe"
        c.model.routerOptions = ["k": "3"]
        return c
    }

    /// `tiny`: width 32, 2 heads, 2 blocks, 4 experts of 64, the committed 2,000-image subset,
    /// batch 64, 3 epochs (about 100 steps).
    public static var tiny: TrainingConfiguration {
        var c = TrainingConfiguration()
        c.preset = "tiny"
        c.model.width = 32
        c.model.heads = 2
        c.model.depth = 2
        c.model.expertHidden = 64
        c.model.patchSize = 7
        c.data.dataset = "fashion-mnist-subset"
        c.optimizer.learningRate = 3e-3
        c.optimizer.warmupSteps = 10
        c.batchSize = 64
        c.epochs = 3
        c.logEvery = 5
        return c
    }
}
