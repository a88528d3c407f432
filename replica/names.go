package replica

import (
	"encoding/json"
	"net/http"
)

// CanisterNamesPath is where the replica lists its named canisters: GET answers a JSON object
// from each name (as Config.Canisters gave it, and as icws dev prints it) to the canister's
// textual id, such as {"chat": "bd3sg-teaaa-aaaaa-qaaba-cai", "echo": "bkyz2-fmaaa-aaaaa-qaaaq-cai"}.
// It is no part of the IC's interface: tools use it to accept a name where an id is asked for.
const CanisterNamesPath = "/api/icws/canisters"

// handleCanisterNames serves CanisterNamesPath.
func (r *Replica) handleCanisterNames(w http.ResponseWriter, _ *http.Request) {
	names := map[string]string{}
	for _, c := range r.Canisters() {
		if c.Name != "" {
			names[c.Name] = c.ID.String()
		}
	}
	body, err := json.Marshal(names)
	if err != nil {
		plainError(w, http.StatusInternalServerError, "Could not encode the canister names: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(body, '\n'))
}
