// The canvas: React Flow with the decorated nodes and edges (canvas.js), a drop target for the
// palette, read-only for a viewer.
import { Background, Controls, MiniMap, ReactFlow } from "@xyflow/react";
import { nodeTypes } from "./StepNode.jsx";

/**
 * ``graph``: useGraphEditing's handlers; ``snapshot``: before a drag moves nodes (one undo step
 * per drag); ``viewSet``: the opening view is set (``data-initial-view``, which the browser
 * tests wait for).
 */
export function Canvas({ wrapper, nodes, edges, graph, snapshot, readOnly, viewSet, manyNodes }) {
  return (
    <div className="editor-canvas" ref={wrapper} data-initial-view={viewSet ? "set" : "pending"}
      onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = "move"; }} onDrop={graph.onDrop}>
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodesChange={graph.onNodesChange}
        onEdgesChange={graph.onEdgesChange}
        onConnect={graph.onConnect}
        onNodeDragStart={() => snapshot()}
        nodesDraggable={!readOnly}
        nodesConnectable={!readOnly}
        deleteKeyCode={readOnly ? null : ["Delete", "Backspace"]}
        multiSelectionKeyCode={["Shift", "Meta", "Control"]}
        minZoom={0.1}
        onlyRenderVisibleElements={manyNodes}
        aria-label="Flow canvas"
      >
        <Background gap={20} size={1} />
        <Controls showInteractive={false} />
        <MiniMap pannable zoomable ariaLabel="Minimap" nodeStrokeWidth={3} />
      </ReactFlow>
    </div>
  );
}
