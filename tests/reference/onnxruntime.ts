/** onnxruntime as a reference runtime for tests: the adapter lives in compiler/ so `diff --runtime onnxruntime` uses it too. */
export * from "../../compiler/reference-runtimes/onnxruntime.ts";
