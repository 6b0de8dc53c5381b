package compute

import "github.com/novabsd/novabsd/hypervisor"

// Nova's vm_state values (nova/objects/fields.py InstanceState).
const (
	vmActive           = "active"
	vmBuilding         = "building"
	vmPaused           = "paused"
	vmSuspended        = "suspended"
	vmStopped          = "stopped"
	vmRescued          = "rescued"
	vmResized          = "resized"
	vmSoftDeleted      = "soft-delete"
	vmDeleted          = "deleted"
	vmError            = "error"
	vmShelved          = "shelved"
	vmShelvedOffloaded = "shelved_offloaded"
)

// Nova's task_state values (InstanceTaskState) that this service reads or writes.
const (
	taskScheduling            = "scheduling"
	taskBlockDeviceMapping    = "block_device_mapping"
	taskNetworking            = "networking"
	taskSpawning              = "spawning"
	taskImageSnapshot         = "image_snapshot"
	taskImageSnapshotPending  = "image_snapshot_pending"
	taskImagePendingUpload    = "image_pending_upload"
	taskImageUploading        = "image_uploading"
	taskImageBackup           = "image_backup"
	taskResizePrep            = "resize_prep"
	taskResizeMigrating       = "resize_migrating"
	taskRebooting             = "rebooting"
	taskRebootPending         = "reboot_pending"
	taskRebootStarted         = "reboot_started"
	taskRebootingHard         = "rebooting_hard"
	taskRebootPendingHard     = "reboot_pending_hard"
	taskRebootStartedHard     = "reboot_started_hard"
	taskPausing               = "pausing"
	taskUnpausing             = "unpausing"
	taskSuspending            = "suspending"
	taskResuming              = "resuming"
	taskPoweringOff           = "powering-off"
	taskPoweringOn            = "powering-on"
	taskRebuilding            = "rebuilding"
	taskRebuildBDM            = "rebuild_block_device_mapping"
	taskRebuildSpawning       = "rebuild_spawning"
	taskDeleting              = "deleting"
	taskMigrating             = "migrating"
	taskShelving              = "shelving"
	taskShelvingPendingUpload = "shelving_image_pending_upload"
	taskShelvingUploading     = "shelving_image_uploading"
	taskShelvingOffloading    = "shelving_offloading"
	taskUnshelving            = "unshelving"
	taskSoftDeleting          = "soft-deleting"
	taskRestoring             = "restoring"
)

// Nova's power_state integers (nova/compute/power_state.py): indexes into InstancePowerState.ALL, 2 and 5 unused.
const (
	powerNoState   = 0
	powerRunning   = 1
	powerPaused    = 3
	powerShutdown  = 4
	powerCrashed   = 6
	powerSuspended = 7
)

// novaPowerState maps the engine's view of a guest to Nova's power_state.
func novaPowerState(s hypervisor.PowerState) int {
	switch s {
	case hypervisor.Running:
		return powerRunning
	case hypervisor.Paused:
		return powerPaused
	case hypervisor.Shutdown:
		return powerShutdown
	case hypervisor.Crashed:
		return powerCrashed
	case hypervisor.Suspended:
		return powerSuspended
	}
	return powerNoState
}

// Task states grouped as nova's manager groups them.
var (
	softRebootStates = []any{taskRebooting, taskRebootPending, taskRebootStarted}
	hardRebootStates = []any{taskRebootingHard, taskRebootPendingHard, taskRebootStartedHard}
	buildTaskStates  = map[string]bool{taskScheduling: true, taskBlockDeviceMapping: true, taskNetworking: true,
		taskSpawning: true}
	snapshotTaskStates = map[string]bool{taskImageSnapshot: true, taskImageSnapshotPending: true,
		taskImagePendingUpload: true, taskImageUploading: true, taskImageBackup: true}
	rebuildTaskStates = map[string]bool{taskRebuilding: true, taskRebuildBDM: true, taskRebuildSpawning: true}
)
