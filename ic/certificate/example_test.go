package certificate_test

import (
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/principal"
)

// Verify a real mainnet certificate (with a subnet delegation) for a canister, with the clock
// set to the certificate's time, and read a certified value.
func ExampleVerifier_Verify() {
	h, _ := os.ReadFile("testdata/agentjs_sample_cert.hex")
	raw, _ := hex.DecodeString(strings.TrimSpace(string(h)))

	v, err := certificate.NewVerifier(certificate.VerifierConfig{
		RootKey: certificate.MainnetRootKey(),
		Clock:   func() time.Time { return time.Unix(0, 1645601880652705378) },
	})
	if err != nil {
		panic(err)
	}
	cert, err := v.Verify(raw, principal.MustDecode("ivg37-qiaaa-aaaab-aaaga-cai"))
	if err != nil {
		panic(err)
	}
	t, _ := cert.Time()
	fmt.Println(t.UTC().Format(time.RFC3339Nano))

	_, err = v.Verify(raw, principal.MustDecode("ryjl3-tyaaa-aaaaa-aaaba-cai"))
	fmt.Println(err)
	// Output:
	// 2022-02-23T07:38:00.652705378Z
	// certificate not authorized for canister ryjl3-tyaaa-aaaaa-aaaba-cai: it is outside the canister ranges of subnet qxesv-zoxpm-vc64m-zxguk-5sj74-35vrb-tbgwg-pcird-5gr26-62oxl-cae (was the certificate fetched for another canister?)
}
