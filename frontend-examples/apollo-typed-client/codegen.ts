// GraphQL Code Generator: TypeScript types for every operation under src/,
// checked against the repository's schema.graphql (which the server's tests
// keep identical to what it serves). A document that asks for something the
// schema does not have fails here, before anything runs.
//
// CODEGEN_OUT and CODEGEN_EXTRA_DOCUMENTS exist for the test that proves
// that failure (tests/e2e/examples.rs): it adds a wrong document and writes
// elsewhere, leaving src/gql/ alone.
import type { CodegenConfig } from "@graphql-codegen/cli";

const extra = process.env.CODEGEN_EXTRA_DOCUMENTS ? [process.env.CODEGEN_EXTRA_DOCUMENTS] : [];

const config: CodegenConfig = {
  schema: "../../schema.graphql",
  documents: ["src/**/*.ts", "!src/gql/**", ...extra],
  ignoreNoDocuments: false,
  generates: {
    [process.env.CODEGEN_OUT ?? "src/gql/"]: {
      preset: "client",
      presetConfig: {
        // Fragments are read whole with cache.readFragment; masking would
        // only add useFragment() calls a script has no use for.
        fragmentMasking: false,
      },
      config: {
        // Generated types are checked, not trusted: unknown scalars fail.
        strictScalars: true,
        scalars: { DateTime: "string" },
        enumsAsTypes: true,
        useTypeImports: true,
      },
    },
  },
};

export default config;
