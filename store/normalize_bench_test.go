package store_test

import (
	"fmt"
	"testing"

	"github.com/ringdesk/ringdesk/store"
)

// BenchmarkNormalize measures normalising numbers not yet remembered (a
// new caller on every call), as a caller ID and its lookup do.
//
//	go test ./store -run '^$' -bench Normalize -benchmem
func BenchmarkNormalize(b *testing.B) {
	for _, tc := range []struct{ region, format string }{
		{"GB", "+4479%08d"},      // mobile, international form
		{"GB", "020 7%03d %04d"}, // London, national form
		{"US", "+1 415 %07d"},    // NANP: several regions share +1
	} {
		b.Run(tc.region+"/"+tc.format, func(b *testing.B) {
			norm, err := store.NewNormalizer(tc.region)
			if err != nil {
				b.Fatal(err)
			}
			nums := make([]string, 20000)
			for i := range nums {
				if tc.format == "020 7%03d %04d" {
					nums[i] = fmt.Sprintf(tc.format, 100+i/10000, i%10000)
				} else {
					nums[i] = fmt.Sprintf(tc.format, 1000000+i*37)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				// More numbers than the normaliser remembers: every one is new.
				if norm.Normalize(nums[i%len(nums)]).E164 == "" {
					b.Fatalf("%q did not normalise", nums[i%len(nums)])
				}
			}
		})
	}
}
