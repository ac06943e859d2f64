/**
 * The two custom Keras layers of idealo's RRDN/ESRGAN exports (@upscalerjs/esrgan-*), as
 * TF.js layers, so that `tf.loadLayersModel` can read the models in Node: MultiplyBeta
 * (residual scaling, `x * beta`) and PixelShuffle{N}x (`tf.depthToSpace(x, N, 'NHWC')`).
 */
import type * as TF from '@tensorflow/tfjs';

type Tf = typeof TF;
type LayerArgs = NonNullable<ConstructorParameters<Tf['layers']['Layer']>[0]>;
type Shape = (number | null)[];

const first = (inputs: TF.Tensor | TF.Tensor[]): TF.Tensor => (Array.isArray(inputs) ? inputs[0]! : inputs);

export function registerEsrganLayers(tf: Tf, scales: readonly number[] = [2, 3, 4, 8]): void {
  class MultiplyBeta extends tf.layers.Layer {
    static readonly className = 'MultiplyBeta';
    private readonly beta: number;
    constructor(config: LayerArgs & { beta?: number }) {
      super(config);
      // 0.2 is the residual scaling every RRDN export uses; the config carries it anyway.
      this.beta = config.beta ?? 0.2;
    }
    override call(inputs: TF.Tensor | TF.Tensor[]): TF.Tensor {
      return tf.mul(first(inputs), this.beta);
    }
    override getConfig(): TF.serialization.ConfigDict {
      return { ...super.getConfig(), beta: this.beta };
    }
  }
  tf.serialization.registerClass(MultiplyBeta);

  for (const n of scales) {
    class PixelShuffle extends tf.layers.Layer {
      static readonly className = `PixelShuffle${n}x`;
      override computeOutputShape(inputShape: Shape | Shape[]): Shape {
        const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
        const mul = (d: number | null | undefined) => (d == null ? null : d * n);
        const c = s[3];
        return [s[0] ?? null, mul(s[1]), mul(s[2]), c == null ? null : c / (n * n)];
      }
      override call(inputs: TF.Tensor | TF.Tensor[]): TF.Tensor {
        return tf.depthToSpace(first(inputs) as TF.Tensor4D, n, 'NHWC');
      }
    }
    tf.serialization.registerClass(PixelShuffle);
  }
}
