/** LiteRT as a reference runtime for tests: the adapter lives in compiler/ so `diff --runtime litert` uses it too. */
export * from "../../compiler/reference-runtimes/litert.ts";
