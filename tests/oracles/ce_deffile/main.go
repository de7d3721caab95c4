// Command ce_deffile parses a definition file with SingularityCE's own parser
// (github.com/sylabs/singularity/v4/pkg/build/types/parser, parser.All) and prints the
// resulting []types.Definition as JSON, without the raw text. It is a test oracle: its
// output is committed next to singlet's golden recipes (core/build/testdata/good/*.ce.json)
// and core/build/deffile_test.ts checks that singlet's parser agrees with it.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/sylabs/singularity/v4/pkg/build/types/parser"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ce_deffile <definition file>")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer f.Close()
	defs, err := parser.All(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := range defs {
		defs[i].Raw = nil
		defs[i].FullRaw = nil
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(defs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
