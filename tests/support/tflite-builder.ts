/**
 * Builds small TFLite flatbuffers for tests: tensors (constant or not, quantized or not) and builtin
 * operators, written with compiler/tflite/writer.ts. LiteRT's JS binding feeds and returns only
 * float32/int32/uint8 tensors, so `ioAdapter` helpers wrap int8 and int16 graph ends in QUANTIZE /
 * DEQUANTIZE ops whose arithmetic is exact for the values used (equal scales, zero points 128 apart).
 */
import type { Operator, Options, Tensor, TfliteModel } from "../../compiler/tflite/model.ts";
import { optionTableOf } from "../../compiler/tflite/op-options.ts";
import { BUILTIN_CODE, type TensorTypeName } from "../../compiler/tflite/schema.ts";
import { writeTflite } from "../../compiler/tflite/writer.ts";

export interface TensorSpec {
  shape: number[];
  type: TensorTypeName;
  scale?: number[];
  zeroPoint?: number[];
  /** quantized_dimension for per-channel scales. */
  axis?: number;
  name?: string;
}

type Data = Int8Array | Uint8Array | Int16Array | Int32Array | Float32Array | BigInt64Array;

export class TfliteBuilder {
  private tensors: Tensor[] = [];
  private buffers: Uint8Array[] = [new Uint8Array(0)];
  private ops: Operator[] = [];
  private codes: string[] = [];
  /** Output adapters, appended after every other operator. */
  private tail: Operator[] = [];

  tensor(spec: TensorSpec, data?: Data): number {
    let buffer = 0;
    if (data) {
      this.buffers.push(
        new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
      );
      buffer = this.buffers.length - 1;
    }
    const q = spec.scale
      ? {
        min: new Float32Array(0),
        max: new Float32Array(0),
        scale: Float32Array.from(spec.scale),
        zeroPoint: spec.zeroPoint ?? spec.scale.map(() => 0),
        detailsType: 0,
        details: null,
        quantizedDimension: spec.axis ?? 0,
      }
      : null;
    this.tensors.push({
      shape: spec.shape,
      shapeSignature: null,
      type: spec.type,
      buffer,
      name: spec.name ?? `t${this.tensors.length}`,
      quantization: q,
      isVariable: false,
      sparsity: null,
      hasRank: true,
      variantTensors: [],
      externalBuffer: 0,
    });
    return this.tensors.length - 1;
  }

  /** Adds an operator; `version` is the operator code's version (LiteRT checks some). */
  op(name: string, inputs: number[], outputs: number[], options: Options | null = null, version = 1): void {
    const key = `${name}@${version}`;
    let code = this.codes.indexOf(key);
    if (code < 0) {
      this.codes.push(key);
      code = this.codes.length - 1;
    }
    const table = optionTableOf(name);
    this.ops.push({
      opcodeIndex: code,
      inputs,
      outputs,
      builtinOptionsType: table && table.union === 1 ? table.tag : 0,
      builtinOptions: table && table.union === 1 ? (options ?? {}) : null,
      customOptions: null,
      customOptionsFormat: 0,
      mutatingVariableInputs: [],
      intermediates: [],
      builtinOptions2Type: table && table.union === 2 ? table.tag : 0,
      builtinOptions2: table && table.union === 2 ? (options ?? {}) : null,
      debugMetadataIndex: -1,
    });
  }

  /**
   * A graph input for a tensor of `spec`: int8 arrives as uint8 (zero point + 128) through QUANTIZE,
   * int16 as float32 through QUANTIZE; other types directly. Returns the tensor the ops read.
   */
  input(spec: TensorSpec, inputs: number[]): number {
    if (spec.type === "INT8") {
      const outer = this.tensor({ ...spec, type: "UINT8", zeroPoint: spec.zeroPoint!.map((z) => z + 128) });
      const inner = this.tensor(spec);
      this.op("QUANTIZE", [outer], [inner]);
      inputs.push(outer);
      return inner;
    }
    if (spec.type === "INT16") {
      const outer = this.tensor({ shape: spec.shape, type: "FLOAT32" });
      const inner = this.tensor(spec);
      this.op("QUANTIZE", [outer], [inner]);
      inputs.push(outer);
      return inner;
    }
    const t = this.tensor(spec);
    inputs.push(t);
    return t;
  }

  /**
   * The mirror of `input` for a graph output: int8 leaves as uint8, int16 as float32 (the adapter runs
   * after every operator added so far or later).
   */
  output(spec: TensorSpec, outputs: number[]): number {
    const inner = this.tensor(spec);
    if (spec.type === "INT8" || spec.type === "INT16") {
      const outer = spec.type === "INT8"
        ? this.tensor({ ...spec, type: "UINT8", zeroPoint: spec.zeroPoint!.map((z) => z + 128) })
        : this.tensor({ shape: spec.shape, type: "FLOAT32" });
      const before = this.ops.length;
      this.op(spec.type === "INT8" ? "QUANTIZE" : "DEQUANTIZE", [inner], [outer]);
      this.tail.push(...this.ops.splice(before));
      outputs.push(outer);
    } else outputs.push(inner);
    return inner;
  }

  finish(inputs: number[], outputs: number[]): Uint8Array {
    const model: TfliteModel = {
      version: 3,
      operatorCodes: this.codes.map((k) => {
        const [n, v] = k.split("@");
        return { builtinCode: BUILTIN_CODE[n], customCode: null, version: Number(v) };
      }),
      subgraphs: [{
        tensors: this.tensors,
        inputs,
        outputs,
        operators: [...this.ops, ...this.tail],
        name: "main",
        debugMetadataIndex: -1,
      }],
      description: "lathe test",
      buffers: this.buffers.map((data) => ({ data, offset: 0, size: 0 })),
      metadataBuffer: [],
      metadata: [],
      signatureDefs: [],
      externalBufferGroups: [],
      externalBuffers: [],
    };
    return writeTflite(model);
  }
}
