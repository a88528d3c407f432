package replica

import (
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
)

// The Candid types of the management canister's interface (the interface spec's ic.did), as far
// as the replica implements it. Records decode by subtyping: fields a client sends that are not
// here are skipped, opt fields it leaves out are nil. Replies carry the newest fields that
// DFINITY's tools read (icp-cli 1.5 reads log_memory_limit, status_visibility,
// minimum_incoming_canister_call_cycles and log_memory_store_size).

var candidNull = candid.Null{}

type canisterSettings struct {
	Controllers          *[]principal.Principal `candid:"controllers"`
	ComputeAllocation    *candid.Nat            `candid:"compute_allocation"`
	MemoryAllocation     *candid.Nat            `candid:"memory_allocation"`
	FreezingThreshold    *candid.Nat            `candid:"freezing_threshold"`
	ReservedCyclesLimit  *candid.Nat            `candid:"reserved_cycles_limit"`
	LogVisibility        *logVisibility         `candid:"log_visibility"`
	WasmMemoryLimit      *candid.Nat            `candid:"wasm_memory_limit"`
	WasmMemoryThreshold  *candid.Nat            `candid:"wasm_memory_threshold"`
	EnvironmentVariables *[]environmentVariable `candid:"environment_variables"`
}

type logVisibility struct {
	Controllers    *candid.Null           `candid:"controllers,variant"`
	Public         *candid.Null           `candid:"public,variant"`
	AllowedViewers *[]principal.Principal `candid:"allowed_viewers,variant"`
}

type environmentVariable struct {
	Name  string `candid:"name"`
	Value string `candid:"value"`
}

type definiteSettings struct {
	Controllers           []principal.Principal `candid:"controllers"`
	ComputeAllocation     candid.Nat            `candid:"compute_allocation"`
	MemoryAllocation      candid.Nat            `candid:"memory_allocation"`
	FreezingThreshold     candid.Nat            `candid:"freezing_threshold"`
	ReservedCyclesLimit   candid.Nat            `candid:"reserved_cycles_limit"`
	LogVisibility         logVisibility         `candid:"log_visibility"`
	SnapshotVisibility    logVisibility         `candid:"snapshot_visibility"`
	WasmMemoryLimit       candid.Nat            `candid:"wasm_memory_limit"`
	WasmMemoryThreshold   candid.Nat            `candid:"wasm_memory_threshold"`
	LogMemoryLimit        candid.Nat            `candid:"log_memory_limit"`
	StatusVisibility      logVisibility         `candid:"status_visibility"`
	MinimumIncomingCycles candid.Nat            `candid:"minimum_incoming_canister_call_cycles"`
	EnvironmentVariables  []environmentVariable `candid:"environment_variables"`
}

type createCanisterArgs struct {
	Settings              *canisterSettings `candid:"settings"`
	SenderCanisterVersion *uint64           `candid:"sender_canister_version"`
}

type provisionalCreateArgs struct {
	Amount                *candid.Nat          `candid:"amount"`
	Settings              *canisterSettings    `candid:"settings"`
	SpecifiedID           *principal.Principal `candid:"specified_id"`
	SenderCanisterVersion *uint64              `candid:"sender_canister_version"`
}

type canisterIDRecord struct {
	CanisterID principal.Principal `candid:"canister_id"`
}

type updateSettingsArgs struct {
	CanisterID            principal.Principal `candid:"canister_id"`
	Settings              canisterSettings    `candid:"settings"`
	SenderCanisterVersion *uint64             `candid:"sender_canister_version"`
}

type uninstallCodeArgs struct {
	CanisterID            principal.Principal `candid:"canister_id"`
	SenderCanisterVersion *uint64             `candid:"sender_canister_version"`
}

type uploadChunkArgs struct {
	CanisterID principal.Principal `candid:"canister_id"`
	Chunk      []byte              `candid:"chunk"`
}

type chunkHash struct {
	Hash []byte `candid:"hash"`
}

type installMode struct {
	Install   *candid.Null    `candid:"install,variant"`
	Reinstall *candid.Null    `candid:"reinstall,variant"`
	Upgrade   **upgradeOption `candid:"upgrade,variant"`
}

type upgradeOption struct {
	SkipPreUpgrade        *bool              `candid:"skip_pre_upgrade"`
	WasmMemoryPersistence *memoryPersistence `candid:"wasm_memory_persistence"`
}

type memoryPersistence struct {
	Keep    *candid.Null `candid:"keep,variant"`
	Replace *candid.Null `candid:"replace,variant"`
}

type installCodeArgs struct {
	Mode                  installMode         `candid:"mode"`
	CanisterID            principal.Principal `candid:"canister_id"`
	WasmModule            []byte              `candid:"wasm_module"`
	Arg                   []byte              `candid:"arg"`
	SenderCanisterVersion *uint64             `candid:"sender_canister_version"`
}

type installChunkedCodeArgs struct {
	Mode                  installMode          `candid:"mode"`
	TargetCanister        principal.Principal  `candid:"target_canister"`
	StoreCanister         *principal.Principal `candid:"store_canister"`
	ChunkHashesList       []chunkHash          `candid:"chunk_hashes_list"`
	WasmModuleHash        []byte               `candid:"wasm_module_hash"`
	Arg                   []byte               `candid:"arg"`
	SenderCanisterVersion *uint64              `candid:"sender_canister_version"`
}

type runStatus struct {
	Running  *candid.Null `candid:"running,variant"`
	Stopping *candid.Null `candid:"stopping,variant"`
	Stopped  *candid.Null `candid:"stopped,variant"`
}

type memoryMetrics struct {
	WasmMemorySize      candid.Nat `candid:"wasm_memory_size"`
	StableMemorySize    candid.Nat `candid:"stable_memory_size"`
	GlobalMemorySize    candid.Nat `candid:"global_memory_size"`
	WasmBinarySize      candid.Nat `candid:"wasm_binary_size"`
	CustomSectionsSize  candid.Nat `candid:"custom_sections_size"`
	CanisterHistorySize candid.Nat `candid:"canister_history_size"`
	WasmChunkStoreSize  candid.Nat `candid:"wasm_chunk_store_size"`
	SnapshotsSize       candid.Nat `candid:"snapshots_size"`
	LogMemoryStoreSize  candid.Nat `candid:"log_memory_store_size"`
}

type queryStats struct {
	NumCallsTotal             candid.Nat `candid:"num_calls_total"`
	NumInstructionsTotal      candid.Nat `candid:"num_instructions_total"`
	RequestPayloadBytesTotal  candid.Nat `candid:"request_payload_bytes_total"`
	ResponsePayloadBytesTotal candid.Nat `candid:"response_payload_bytes_total"`
}

type canisterStatusResult struct {
	Status                 runStatus        `candid:"status"`
	ReadyForMigration      bool             `candid:"ready_for_migration"`
	Version                uint64           `candid:"version"`
	Settings               definiteSettings `candid:"settings"`
	ModuleHash             *[]byte          `candid:"module_hash"`
	MemorySize             candid.Nat       `candid:"memory_size"`
	MemoryMetrics          memoryMetrics    `candid:"memory_metrics"`
	Cycles                 candid.Nat       `candid:"cycles"`
	ReservedCycles         candid.Nat       `candid:"reserved_cycles"`
	IdleCyclesBurnedPerDay candid.Nat       `candid:"idle_cycles_burned_per_day"`
	QueryStats             queryStats       `candid:"query_stats"`
}

type topUpArgs struct {
	CanisterID principal.Principal `candid:"canister_id"`
	Amount     candid.Nat          `candid:"amount"`
}

type canisterMetadataArgs struct {
	CanisterID principal.Principal `candid:"canister_id"`
	Name       string              `candid:"name"`
}

type canisterMetadataResult struct {
	Value []byte `candid:"value"`
}

// The canister history (canister_info) and canister logs (fetch_canister_logs) of ic.did. The
// history's details have no load_snapshot case: the replica has no snapshots, and a client's
// wider variant type decodes a narrower one.

type changeOrigin struct {
	FromUser     *fromUser     `candid:"from_user,variant"`
	FromCanister *fromCanister `candid:"from_canister,variant"`
}

type fromUser struct {
	UserID principal.Principal `candid:"user_id"`
}

type fromCanister struct {
	CanisterID      principal.Principal `candid:"canister_id"`
	CanisterVersion *uint64             `candid:"canister_version"`
}

type controllersRecord struct {
	Controllers []principal.Principal `candid:"controllers"`
}

type deployMode struct {
	Install   *candid.Null `candid:"install,variant"`
	Reinstall *candid.Null `candid:"reinstall,variant"`
	Upgrade   *candid.Null `candid:"upgrade,variant"`
}

type codeDeployment struct {
	Mode       deployMode `candid:"mode"`
	ModuleHash []byte     `candid:"module_hash"`
}

type changeDetails struct {
	Creation          *controllersRecord `candid:"creation,variant"`
	CodeUninstall     *candid.Null       `candid:"code_uninstall,variant"`
	CodeDeployment    *codeDeployment    `candid:"code_deployment,variant"`
	ControllersChange *controllersRecord `candid:"controllers_change,variant"`
}

// canisterChange is one entry of a canister's history: when, the canister version after it,
// who made it and what it was.
type canisterChange struct {
	TimestampNanos  uint64        `candid:"timestamp_nanos"`
	CanisterVersion uint64        `candid:"canister_version"`
	Origin          changeOrigin  `candid:"origin"`
	Details         changeDetails `candid:"details"`
}

type canisterInfoArgs struct {
	CanisterID          principal.Principal `candid:"canister_id"`
	NumRequestedChanges *uint64             `candid:"num_requested_changes"`
}

type canisterInfoResult struct {
	TotalNumChanges uint64                `candid:"total_num_changes"`
	RecentChanges   []canisterChange      `candid:"recent_changes"`
	ModuleHash      *[]byte               `candid:"module_hash"`
	Controllers     []principal.Principal `candid:"controllers"`
}

// logRecord is one record of a canister's log.
type logRecord struct {
	Idx            uint64 `candid:"idx"`
	TimestampNanos uint64 `candid:"timestamp_nanos"`
	Content        []byte `candid:"content"`
}

type fetchLogsResult struct {
	Records []logRecord `candid:"canister_log_records"`
}
