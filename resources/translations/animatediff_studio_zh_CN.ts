<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>CompareDialog</name>
    <message>
        <source>Compare {0} and {1}</source>
        <translation>对比 {0} 与 {1}</translation>
    </message>
    <message>
        <source>{0} · seed {1} · {2}</source>
        <translation>{0} · 种子 {1} · {2}</translation>
    </message>
</context>
<context>
    <name>DownloadCheck</name>
    <message>
        <source>Asking the Hugging Face Hub what the models need…</source>
        <translation>正在向 Hugging Face Hub 查询模型所需的文件…</translation>
    </message>
    <message>
        <source>The Hugging Face Hub did not answer within {0} s, so the job was not started. Check the network connection, or choose models that are on this computer.</source>
        <translation>Hugging Face Hub 在 {0} 秒内没有响应，因此任务没有开始。请检查网络连接，或选择本机上已有的模型。</translation>
    </message>
</context>
<context>
    <name>EmbeddingList</name>
    <message>
        <source>Embedding file</source>
        <translation>嵌入文件</translation>
    </message>
    <message>
        <source>Token</source>
        <translation>触发词</translation>
    </message>
    <message>
        <source>Add embedding…</source>
        <translation>添加嵌入…</translation>
    </message>
    <message>
        <source>Add embedding</source>
        <translation>添加嵌入</translation>
    </message>
    <message>
        <source>Add a textual-inversion embedding (.safetensors)</source>
        <translation>添加一个文本反演嵌入（.safetensors）</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>移除</translation>
    </message>
    <message>
        <source>Remove embedding</source>
        <translation>移除嵌入</translation>
    </message>
    <message>
        <source>Remove the selected embedding</source>
        <translation>移除选中的嵌入</translation>
    </message>
    <message>
        <source>Choose an embedding</source>
        <translation>选择嵌入文件</translation>
    </message>
</context>
<context>
    <name>ExportDialog</name>
    <message>
        <source>PNG frames</source>
        <translation>PNG 序列帧</translation>
    </message>
    <message>
        <source>Interpolating…</source>
        <translation>正在插帧…</translation>
    </message>
    <message>
        <source>Upscaling…</source>
        <translation>正在放大…</translation>
    </message>
    <message>
        <source>Writing…</source>
        <translation>正在写入…</translation>
    </message>
    <message>
        <source>Export cancelled; nothing was written.</source>
        <translation>导出已取消，未写入任何文件。</translation>
    </message>
    <message>
        <source>Export</source>
        <translation>导出</translation>
    </message>
    <message>
        <source>Format</source>
        <translation>格式</translation>
    </message>
    <message>
        <source>GIF plays everywhere; MP4 is small and sharp; WebM for the web; WebP lossless; PNG frames for editing.</source>
        <translation>GIF 随处可播放；MP4 体积小、画质清晰；WebM 适合网页；WebP 无损；PNG 序列帧便于后期编辑。</translation>
    </message>
    <message>
        <source>File</source>
        <translation>文件</translation>
    </message>
    <message>
        <source>Choose where to save</source>
        <translation>选择保存位置</translation>
    </message>
    <message>
        <source>Export fps</source>
        <translation>导出帧率（fps）</translation>
    </message>
    <message>
        <source>Frames per second of the exported clip</source>
        <translation>导出片段的每秒帧数</translation>
    </message>
    <message>
        <source>Size</source>
        <translation>尺寸</translation>
    </message>
    <message>
        <source>Original</source>
        <translation>原始尺寸</translation>
    </message>
    <message>
        <source>Custom</source>
        <translation>自定义</translation>
    </message>
    <message>
        <source>None (smallest, no flicker)</source>
        <translation>无（体积最小，无闪烁）</translation>
    </message>
    <message>
        <source>Floyd-Steinberg (smoother gradients)</source>
        <translation>误差扩散（渐变更平滑）</translation>
    </message>
    <message>
        <source>Forever</source>
        <translation>无限循环</translation>
    </message>
    <message>
        <source>Once</source>
        <translation>播放一次</translation>
    </message>
    <message>
        <source>Ping-pong (forward, then back)</source>
        <translation>往返播放（先正放，再倒放）</translation>
    </message>
    <message>
        <source>MP4/WebM quality (CRF): lower is better and bigger. 18 looks lossless; 28 is small.</source>
        <translation>MP4/WebM 画质（CRF）：数值越低画质越好、文件越大。18 近乎无损；28 体积较小。</translation>
    </message>
    <message>
        <source>Also write the settings as a .json file</source>
        <translation>同时将生成参数另存为 .json 文件</translation>
    </message>
    <message>
        <source>Interpolate and/or upscale on the way out (the take stays as it is)</source>
        <translation>导出时插帧和/或放大（镜头本身保持不变）</translation>
    </message>
    <message>
        <source>Open the folder when done</source>
        <translation>完成后打开所在文件夹</translation>
    </message>
    <message>
        <source>Save to</source>
        <translation>保存到</translation>
    </message>
    <message>
        <source>Frames</source>
        <translation>帧范围</translation>
    </message>
    <message>
        <source>FPS</source>
        <translation>帧率</translation>
    </message>
    <message>
        <source>GIF dithering</source>
        <translation>GIF 抖动</translation>
    </message>
    <message>
        <source>Loop</source>
        <translation>循环</translation>
    </message>
    <message>
        <source>MP4/WebM quality</source>
        <translation>MP4/WebM 画质</translation>
    </message>
    <message>
        <source>Finishing</source>
        <translation>后期处理</translation>
    </message>
    <message>
        <source>{0} to {1} ({2} frames; set with I and O in the player)</source>
        <translation>第 {0} 帧至第 {1} 帧（共 {2} 帧；可在播放器中按 I 和 O 设置）</translation>
    </message>
    <message>
        <source>Folder for the PNG frames</source>
        <translation>PNG 序列帧的保存文件夹</translation>
    </message>
    <message>
        <source>Export as</source>
        <translation>导出为</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>Writing {0}…</source>
        <translation>正在写入 {0}…</translation>
    </message>
    <message>
        <source>Replace {0}?</source>
        <translation>替换 {0}？</translation>
    </message>
    <message>
        <source>{0} already exists in {1}. Replace it?</source>
        <translation>{1} 中已有 {0}。要替换它吗？</translation>
    </message>
    <message>
        <source>Saved {0}.</source>
        <translation>已保存 {0}。</translation>
    </message>
    <message>
        <source>Close</source>
        <translation>关闭</translation>
    </message>
</context>
<context>
    <name>Family</name>
    <message>
        <source>Wan makes its own motion; a motion adapter is for Stable Diffusion 1.5 models</source>
        <translation>Wan 自带运动生成；运动适配器用于 Stable Diffusion 1.5 模型</translation>
    </message>
    <message>
        <source>motion LoRAs are for AnimateDiff&apos;s motion modules; give a Wan LoRA with --lora</source>
        <translation>运动 LoRA 用于 AnimateDiff 的运动模块；请在 LoRA 中添加 Wan LoRA</translation>
    </message>
    <message>
        <source>FreeInit is built into AnimateDiff&apos;s pipelines only</source>
        <translation>FreeInit 仅内置于 AnimateDiff 的管线中</translation>
    </message>
    <message>
        <source>FreeNoise context windows work on AnimateDiff&apos;s motion modules only</source>
        <translation>FreeNoise 上下文窗口仅适用于 AnimateDiff 的运动模块</translation>
    </message>
    <message>
        <source>prompt travel runs through FreeNoise, which Wan&apos;s pipelines do not have</source>
        <translation>提示词切换依赖 FreeNoise，而 Wan 的管线没有 FreeNoise</translation>
    </message>
    <message>
        <source>Wan&apos;s text encoder is UMT5, not CLIP</source>
        <translation>Wan 的文本编码器是 UMT5，不是 CLIP</translation>
    </message>
    <message>
        <source>FreeU re-weights a UNet&apos;s features; Wan has a transformer</source>
        <translation>FreeU 重新加权 UNet 的特征；Wan 使用的是 Transformer</translation>
    </message>
    <message>
        <source>textual-inversion embeddings are for CLIP text encoders; Wan uses UMT5</source>
        <translation>文本反演嵌入用于 CLIP 文本编码器；Wan 使用 UMT5</translation>
    </message>
    <message>
        <source>Wan has a transformer, not a UNet</source>
        <translation>Wan 使用 Transformer，而不是 UNet</translation>
    </message>
    <message>
        <source>the quality presets are AnimateDiff recipes (motion modules and their LoRAs); no few-step LoRA with a permissive licence exists for Wan2.1-1.3B or Wan2.2-TI2V-5B yet</source>
        <translation>质量预设是 AnimateDiff 的配方（运动模块及其 LoRA）；目前还没有适用于 Wan2.1-1.3B 或 Wan2.2-TI2V-5B、许可宽松的少步数 LoRA</translation>
    </message>
    <message>
        <source>ControlNets are made for Stable Diffusion 1.5&apos;s UNet</source>
        <translation>ControlNet 是为 Stable Diffusion 1.5 的 UNet 制作的</translation>
    </message>
    <message>
        <source>SparseCtrl works with AnimateDiff&apos;s motion modules only</source>
        <translation>SparseCtrl 仅适用于 AnimateDiff 的运动模块</translation>
    </message>
    <message>
        <source>keyframes go through SparseCtrl, an AnimateDiff model; give Wan a start image instead</source>
        <translation>关键帧通过 AnimateDiff 的 SparseCtrl 模型实现；请改为给 Wan 一张起始图像</translation>
    </message>
    <message>
        <source>IP-Adapter is made for Stable Diffusion 1.5&apos;s UNet</source>
        <translation>IP-Adapter 是为 Stable Diffusion 1.5 的 UNet 制作的</translation>
    </message>
</context>
<context>
    <name>FamilyForm</name>
    <message>
        <source>Native size</source>
        <translation>原生尺寸</translation>
    </message>
    <message>
        <source>The sizes this model was made for</source>
        <translation>该模型训练时所用的尺寸</translation>
    </message>
    <message>
        <source>{0} models use other schedulers: {1}</source>
        <translation>{0} 模型使用其他调度器：{1}</translation>
    </message>
    <message>
        <source>Building the tiny demo models (once, a few seconds)…</source>
        <translation>正在构建微型演示模型（仅一次，几秒钟）…</translation>
    </message>
    <message>
        <source>{0} does not apply to {1} models: {2}</source>
        <translation>{0}不适用于 {1} 模型：{2}</translation>
    </message>
    <message>
        <source>This model cannot run this mode.</source>
        <translation>此模型无法运行该模式。</translation>
    </message>
    <message>
        <source>Custom</source>
        <translation>自定义</translation>
    </message>
</context>
<context>
    <name>FinishDialog</name>
    <message>
        <source>interpolating: pair {0} of {1}</source>
        <translation>插帧：第 {0} 对，共 {1} 对</translation>
    </message>
    <message>
        <source>upscaling: frame {0} of {1}</source>
        <translation>放大：第 {0} 帧，共 {1} 帧</translation>
    </message>
    <message>
        <source>×{0} frames</source>
        <translation>帧数 ×{0}</translation>
    </message>
    <message>
        <source>{0}× size</source>
        <translation>尺寸 {0}×</translation>
    </message>
    <message>
        <source>Finish a take</source>
        <translation>后期处理镜头</translation>
    </message>
    <message>
        <source>Finish {0}</source>
        <translation>后期处理 {0}</translation>
    </message>
    <message>
        <source>Make a new take from {0} ({1} frames, {2}×{3}, {4} fps). {0} itself stays as it is.</source>
        <translation>从 {0}（{1} 帧，{2}×{3}，{4} fps）生成一个新镜头。{0} 本身保持不变。</translation>
    </message>
    <message>
        <source>What finishing makes</source>
        <translation>后期处理的结果</translation>
    </message>
    <message>
        <source>Finishing progress</source>
        <translation>后期处理进度</translation>
    </message>
    <message>
        <source>Finishing message</source>
        <translation>后期处理消息</translation>
    </message>
    <message>
        <source>Finish</source>
        <translation>处理</translation>
    </message>
    <message>
        <source>Make the new take (on the worker; the window stays usable)</source>
        <translation>生成新镜头（在后台线程中进行，窗口仍可使用）</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>Choose interpolation, upscaling or both.</source>
        <translation>请选择插帧、放大或两者。</translation>
    </message>
    <message>
        <source>Finish {0}: {1}</source>
        <translation>后期处理 {0}：{1}</translation>
    </message>
    <message>
        <source>Waiting for the worker…</source>
        <translation>正在等待后台线程…</translation>
    </message>
    <message>
        <source>Loading the models…</source>
        <translation>正在加载模型…</translation>
    </message>
    <message>
        <source>interpolate ×{0}</source>
        <translation>插帧 ×{0}</translation>
    </message>
    <message>
        <source>upscale</source>
        <translation>放大</translation>
    </message>
    <message>
        <source>Downloading {0}…</source>
        <translation>正在下载 {0}…</translation>
    </message>
    <message>
        <source>Cancelled; no take was made.</source>
        <translation>已取消；没有生成镜头。</translation>
    </message>
    <message>
        <source>Cancelling…</source>
        <translation>正在取消…</translation>
    </message>
    <message>
        <source>The finished clip was dropped: {0} is no longer in this project.</source>
        <translation>处理结果已丢弃：{0} 已不在此项目中。</translation>
    </message>
    <message>
        <source>Take {0}</source>
        <translation>镜头 {0}</translation>
    </message>
    <message>
        <source>done</source>
        <translation>完成</translation>
    </message>
    <message>
        <source>{0} made from {1} ({2}): {3} frames, {4}×{5}, {6} fps</source>
        <translation>{0} 由 {1} 生成（{2}）：{3} 帧，{4}×{5}，{6} fps</translation>
    </message>
    <message>
        <source>Job {0}: {1}</source>
        <translation>任务 {0}：{1}</translation>
    </message>
    <message>
        <source>&amp;Finish the selected take…</source>
        <translation>后期处理所选镜头(&amp;F)…</translation>
    </message>
    <message>
        <source>Interpolate or upscale the selected take into a new take</source>
        <translation>将所选镜头插帧或放大为一个新镜头</translation>
    </message>
    <message>
        <source>Select one take to finish first.</source>
        <translation>请先选择一个要处理的镜头。</translation>
    </message>
</context>
<context>
    <name>FinishingFields</name>
    <message>
        <source>Interpolate</source>
        <translation>插帧</translation>
    </message>
    <message>
        <source>RIFE frame interpolation: new frames between each pair, at the same length of clip (the fps is multiplied)</source>
        <translation>RIFE 插帧：在每两帧之间插入新帧，片段时长不变（fps 相应倍增）</translation>
    </message>
    <message>
        <source>No</source>
        <translation>否</translation>
    </message>
    <message>
        <source>×2 (2n−1 frames)</source>
        <translation>×2（2n−1 帧）</translation>
    </message>
    <message>
        <source>×4 (4n−3 frames)</source>
        <translation>×4（4n−3 帧）</translation>
    </message>
    <message>
        <source>Interpolation model</source>
        <translation>插帧模型</translation>
    </message>
    <message>
        <source>Upscale with a model</source>
        <translation>用模型放大</translation>
    </message>
    <message>
        <source>Upscale</source>
        <translation>放大</translation>
    </message>
    <message>
        <source>Upscale every frame with an image upscaler (Real-ESRGAN and its kin), after interpolating</source>
        <translation>插帧之后，用图像放大模型（Real-ESRGAN 等）放大每一帧</translation>
    </message>
    <message>
        <source>Upscale model</source>
        <translation>放大模型</translation>
    </message>
</context>
<context>
    <name>FrameView</name>
    <message>
        <source>Frame view</source>
        <translation>画面预览</translation>
    </message>
    <message>
        <source>No frames yet: write a prompt and press Generate (Ctrl+Enter).</source>
        <translation>还没有画面：请输入提示词，然后点击“生成”（Ctrl+Enter）。</translation>
    </message>
</context>
<context>
    <name>GenerationController</name>
    <message>
        <source>loading models</source>
        <translation>正在加载模型</translation>
    </message>
    <message>
        <source>downloading models</source>
        <translation>正在下载模型</translation>
    </message>
    <message>
        <source>finishing a denoising step</source>
        <translation>正在完成一个去噪步骤</translation>
    </message>
    <message>
        <source>decoding frames</source>
        <translation>正在解码帧</translation>
    </message>
    <message>
        <source>interpolating frames</source>
        <translation>正在插帧</translation>
    </message>
    <message>
        <source>upscaling frames</source>
        <translation>正在放大帧</translation>
    </message>
    <message>
        <source>starting a job</source>
        <translation>正在启动任务</translation>
    </message>
    <message>
        <source>loading torch and diffusers</source>
        <translation>正在加载 torch 和 diffusers</translation>
    </message>
    <message>
        <source>building the demo model</source>
        <translation>正在生成演示模型</translation>
    </message>
    <message>
        <source>finishing its work</source>
        <translation>正在结束手头的工作</translation>
    </message>
</context>
<context>
    <name>GenerationWorker</name>
    <message>
        <source>Could not build the demo model in {0}: {1}</source>
        <translation>无法在 {0} 中生成演示模型：{1}</translation>
    </message>
</context>
<context>
    <name>GuidanceLanes</name>
    <message>
        <source>Guidance lanes</source>
        <translation>引导轨道</translation>
    </message>
    <message>
        <source>Control frames, keyframes and prompt changes, frame by frame. Drop an image on a frame to add a keyframe; drag markers to move them; Delete removes the selected keyframe; double-click a prompt marker to edit it.</source>
        <translation>逐帧显示控制帧、关键帧和提示词变化。把图片拖到某一帧上可添加关键帧；拖动标记可移动；按 Delete 删除选中的关键帧；双击提示词标记可编辑。</translation>
    </message>
    <message>
        <source>Prompt from frame {0}</source>
        <translation>从第 {0} 帧起的提示词</translation>
    </message>
    <message>
        <source>Prompt</source>
        <translation>提示词</translation>
    </message>
</context>
<context>
    <name>GuidancePanel</name>
    <message>
        <source>Guidance</source>
        <translation>引导</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Source</source>
        <translation>来源</translation>
    </message>
    <message>
        <source>Preprocess</source>
        <translation>预处理</translation>
    </message>
    <message>
        <source>Weight</source>
        <translation>权重</translation>
    </message>
    <message>
        <source>Start</source>
        <translation>开始</translation>
    </message>
    <message>
        <source>End</source>
        <translation>结束</translation>
    </message>
    <message>
        <source>Add control</source>
        <translation>添加控制</translation>
    </message>
    <message>
        <source>Add a ControlNet row</source>
        <translation>添加一行 ControlNet</translation>
    </message>
    <message>
        <source>Remove control</source>
        <translation>移除控制</translation>
    </message>
    <message>
        <source>Remove the selected ControlNet row</source>
        <translation>移除选中的 ControlNet 行</translation>
    </message>
    <message>
        <source>Preview control</source>
        <translation>预览控制</translation>
    </message>
    <message>
        <source>Show the first control&apos;s preprocessed frames in the lane under the player, before generating</source>
        <translation>在生成之前，于播放器下方的轨道中显示第一个控制的预处理帧</translation>
    </message>
    <message>
        <source>Control from a clip…</source>
        <translation>从片段设置控制…</translation>
    </message>
    <message>
        <source>Control from a clip</source>
        <translation>从片段设置控制</translation>
    </message>
    <message>
        <source>Choose a video or image to be the first control&apos;s source (or drop a video on the window with Shift)</source>
        <translation>选择一个视频或图片作为第一个控制的来源（或按住 Shift 把视频拖到窗口上）</translation>
    </message>
    <message>
        <source>Frame</source>
        <translation>帧</translation>
    </message>
    <message>
        <source>Image</source>
        <translation>图片</translation>
    </message>
    <message>
        <source>Add keyframe</source>
        <translation>添加关键帧</translation>
    </message>
    <message>
        <source>Add a keyframe row</source>
        <translation>添加一行关键帧</translation>
    </message>
    <message>
        <source>Remove keyframe</source>
        <translation>移除关键帧</translation>
    </message>
    <message>
        <source>Remove the selected keyframe</source>
        <translation>移除选中的关键帧</translation>
    </message>
    <message>
        <source>Control video</source>
        <translation>控制视频</translation>
    </message>
    <message>
        <source>Videos and images (*.mp4 *.mov *.webm *.mkv *.gif *.webp *.png *.jpg)</source>
        <translation>视频和图片 (*.mp4 *.mov *.webm *.mkv *.gif *.webp *.png *.jpg)</translation>
    </message>
    <message>
        <source>Control model</source>
        <translation>控制模型</translation>
    </message>
    <message>
        <source>A ControlNet: Hub id, diffusers folder or v1.1 .safetensors file</source>
        <translation>ControlNet：Hub ID、diffusers 文件夹或 v1.1 的 .safetensors 文件</translation>
    </message>
    <message>
        <source>Control source</source>
        <translation>控制来源</translation>
    </message>
    <message>
        <source>The control video, GIF, folder of frames or image (empty: the input video in video to video)</source>
        <translation>控制视频、GIF、帧文件夹或图片（留空：视频转视频时使用输入视频）</translation>
    </message>
    <message>
        <source>Preprocessor</source>
        <translation>预处理器</translation>
    </message>
    <message>
        <source>Control weight</source>
        <translation>控制权重</translation>
    </message>
    <message>
        <source>Control start</source>
        <translation>控制开始</translation>
    </message>
    <message>
        <source>Control end</source>
        <translation>控制结束</translation>
    </message>
    <message>
        <source>Keyframe frame</source>
        <translation>关键帧所在帧</translation>
    </message>
    <message>
        <source>Keyframe image</source>
        <translation>关键帧图片</translation>
    </message>
</context>
<context>
    <name>HelpDialogs</name>
    <message>
        <source>Generate (while a job runs: add to the queue)</source>
        <translation>生成（有任务运行时：加入队列）</translation>
    </message>
    <message>
        <source>Cancel the running job</source>
        <translation>取消正在运行的任务</translation>
    </message>
    <message>
        <source>Export the clip shown</source>
        <translation>导出当前显示的片段</translation>
    </message>
    <message>
        <source>New project / open a project</source>
        <translation>新建项目 / 打开项目</translation>
    </message>
    <message>
        <source>Save the project / save it as</source>
        <translation>保存项目 / 项目另存为</translation>
    </message>
    <message>
        <source>Bring back the last deleted take</source>
        <translation>恢复最近删除的镜头</translation>
    </message>
    <message>
        <source>Play / pause (player focused)</source>
        <translation>播放 / 暂停（播放器获得焦点时）</translation>
    </message>
    <message>
        <source>Previous / next frame</source>
        <translation>上一帧 / 下一帧</translation>
    </message>
    <message>
        <source>First / last frame</source>
        <translation>第一帧 / 最后一帧</translation>
    </message>
    <message>
        <source>Set the in / out point</source>
        <translation>设置入点 / 出点</translation>
    </message>
    <message>
        <source>Loop, ping-pong or once</source>
        <translation>切换循环、往返或单次播放</translation>
    </message>
    <message>
        <source>Copy the frame shown</source>
        <translation>复制当前画面</translation>
    </message>
    <message>
        <source>Getting started</source>
        <translation>快速入门</translation>
    </message>
    <message>
        <source>The README is in English.</source>
        <translation>自述文件（README）只有英文版。</translation>
    </message>
    <message>
        <source>Read me</source>
        <translation>自述文件</translation>
    </message>
    <message>
        <source>About AnimateDiff Studio</source>
        <translation>关于 AnimateDiff Studio</translation>
    </message>
    <message>
        <source>
&lt;h2&gt;Getting started&lt;/h2&gt;
&lt;ol&gt;
&lt;li&gt;&lt;b&gt;Write a prompt&lt;/b&gt; at the top of the left column: what should move, and how it looks.
The negative prompt (optional) lists what to avoid.&lt;/li&gt;
&lt;li&gt;&lt;b&gt;Pick the models&lt;/b&gt; under it: &lt;i&gt;Base model&lt;/i&gt; and &lt;i&gt;Motion adapter&lt;/i&gt;. The defaults
are the ones the diffusers documentation uses; they download once (a few GB). The tiny demo
model works offline at once, but only makes noise: use it to try the app. &lt;i&gt;Models › Manage…&lt;/i&gt;
lists more models and your own model folders.&lt;/li&gt;
&lt;li&gt;Set &lt;i&gt;Quality&lt;/i&gt;, &lt;i&gt;Duration&lt;/i&gt;, &lt;i&gt;Size&lt;/i&gt; and &lt;i&gt;Seed&lt;/i&gt;, then &lt;b&gt;press
Generate&lt;/b&gt; (Ctrl+Enter). The progress bar shows the step and the time left; the player shows a
preview while the frames form, then the finished clip.&lt;/li&gt;
&lt;li&gt;Every clip becomes a &lt;b&gt;take&lt;/b&gt; in the strip under the player, with the exact settings that
made it. Select one to play it and see its settings (&lt;i&gt;Random&lt;/i&gt; stays as you set it);
&lt;i&gt;Re-run&lt;/i&gt; makes it again, &lt;i&gt;Vary seed&lt;/i&gt; makes a variation.&lt;/li&gt;
&lt;li&gt;In the player, I and O set the in and out points. &lt;b&gt;Export…&lt;/b&gt; (Ctrl+E) writes that range
as GIF, MP4, WebM, WebP or PNG frames, with the settings inside. Save the project (Ctrl+S) to
keep every take; unsaved takes are autosaved every few seconds and offered back after a
crash.&lt;/li&gt;
&lt;/ol&gt;
&lt;p&gt;Video to video: drop a video on the window. The folded sections below the seed hold the rest:
&lt;i&gt;Sampling&lt;/i&gt; (steps, guidance, scheduler), &lt;i&gt;LoRAs and embeddings&lt;/i&gt;, &lt;i&gt;Motion and prompt
travel&lt;/i&gt; (FreeInit, FreeU, longer clips), &lt;i&gt;Guidance&lt;/i&gt; (ControlNet, keyframes),
&lt;i&gt;Memory and device&lt;/i&gt;, and &lt;i&gt;Render on other machines&lt;/i&gt;.&lt;/p&gt;
</source>
        <translation>
&lt;h2&gt;快速入门&lt;/h2&gt;
&lt;ol&gt;
&lt;li&gt;在左栏顶部&lt;b&gt;输入提示词&lt;/b&gt;：描述什么在动、画面是什么样子。反向提示词（可选）列出你不想出现的内容。&lt;/li&gt;
&lt;li&gt;在其下方&lt;b&gt;选择模型&lt;/b&gt;：&lt;i&gt;基础模型&lt;/i&gt;和&lt;i&gt;运动适配器&lt;/i&gt;。默认模型与 diffusers 官方文档中使用的相同，只需下载一次（几 GB）。
微型演示模型无需联网即可使用，但只会生成噪点：用它来试用本软件。&lt;i&gt;模型 › 管理…&lt;/i&gt;列出更多模型以及你自己的模型文件夹。&lt;/li&gt;
&lt;li&gt;设置&lt;i&gt;质量&lt;/i&gt;、&lt;i&gt;时长&lt;/i&gt;、&lt;i&gt;尺寸&lt;/i&gt;和&lt;i&gt;种子&lt;/i&gt;，然后&lt;b&gt;点击“生成”&lt;/b&gt;（Ctrl+Enter）。
进度条会显示当前步数和剩余时间；画面成形时播放器会显示预览，完成后播放最终片段。&lt;/li&gt;
&lt;li&gt;每个片段都会成为播放器下方缩略图条中的一个&lt;b&gt;镜头&lt;/b&gt;，并记录生成它的全部参数。选中一个镜头即可播放并查看其参数
（&lt;i&gt;随机&lt;/i&gt;保持你的设置）；&lt;i&gt;重新生成&lt;/i&gt;会再做一次，&lt;i&gt;换种子&lt;/i&gt;会生成一个变体。&lt;/li&gt;
&lt;li&gt;在播放器中，按 I 和 O 设置入点和出点。&lt;b&gt;导出…&lt;/b&gt;（Ctrl+E）把这一段导出为 GIF、MP4、WebM、WebP 或 PNG 序列帧，
并在文件中写入生成参数。保存项目（Ctrl+S）即可保留所有镜头；未保存的镜头每隔几秒自动保存，程序崩溃后可以恢复。&lt;/li&gt;
&lt;/ol&gt;
&lt;p&gt;视频转视频：把视频拖到窗口上即可。种子下方可折叠的各个区域包含其余选项：&lt;i&gt;采样&lt;/i&gt;（步数、引导强度、调度器）、
&lt;i&gt;LoRA 与嵌入&lt;/i&gt;、&lt;i&gt;运动与提示词切换&lt;/i&gt;（FreeInit、FreeU、更长的片段）、&lt;i&gt;引导&lt;/i&gt;（ControlNet、关键帧）、
&lt;i&gt;内存与设备&lt;/i&gt;，以及&lt;i&gt;在其他机器上渲染&lt;/i&gt;。&lt;/p&gt;
</translation>
    </message>
    <message>
        <source>not installed</source>
        <translation>未安装</translation>
    </message>
    <message>
        <source>Device</source>
        <translation>设备</translation>
    </message>
    <message>
        <source>chosen when the models load (CUDA or Apple GPU if present, else CPU)</source>
        <translation>加载模型时自动选择（优先 CUDA 或 Apple GPU，否则使用 CPU）</translation>
    </message>
    <message>
        <source>Settings</source>
        <translation>设置文件</translation>
    </message>
    <message>
        <source>Recovery files</source>
        <translation>恢复文件</translation>
    </message>
    <message>
        <source>Models (Hugging Face cache)</source>
        <translation>模型（Hugging Face 缓存）</translation>
    </message>
    <message>
        <source>Short animations from text or video with AnimateDiff, on your own computer.</source>
        <translation>用 AnimateDiff 在你自己的电脑上，由文字或视频生成短动画。</translation>
    </message>
    <message>
        <source>Licences: AnimateDiff Studio is Apache-2.0. PyTorch (BSD-3-Clause), diffusers, transformers and huggingface_hub (Apache-2.0), Qt for Python (LGPL-3.0), imageio (BSD-2-Clause) with FFmpeg (LGPL/GPL), Pillow (MIT-CMU). Models carry their own licences: see each model&apos;s card before you use its output.</source>
        <translation>许可证：AnimateDiff Studio 采用 Apache-2.0 许可。PyTorch（BSD-3-Clause）、diffusers、transformers 与 huggingface_hub（Apache-2.0）、Qt for Python（LGPL-3.0）、imageio（BSD-2-Clause）及 FFmpeg（LGPL/GPL）、Pillow（MIT-CMU）。各模型有其自己的许可证：使用其生成内容前，请先查看该模型的模型卡。</translation>
    </message>
    <message>
        <source>Keyboard shortcuts</source>
        <translation>键盘快捷键</translation>
    </message>
    <message>
        <source>Keys</source>
        <translation>按键</translation>
    </message>
    <message>
        <source>What they do</source>
        <translation>功能</translation>
    </message>
    <message>
        <source>The README is not installed with this copy of AnimateDiff Studio.</source>
        <translation>此 AnimateDiff Studio 副本未附带 README 自述文件。</translation>
    </message>
</context>
<context>
    <name>InputForm</name>
    <message>
        <source>Sampling</source>
        <translation>采样</translation>
    </message>
    <message>
        <source>LoRAs and embeddings</source>
        <translation>LoRA 与嵌入</translation>
    </message>
    <message>
        <source>Motion and prompt travel</source>
        <translation>运动与提示词切换</translation>
    </message>
    <message>
        <source>Guidance</source>
        <translation>引导</translation>
    </message>
    <message>
        <source>Memory and device</source>
        <translation>内存与设备</translation>
    </message>
    <message>
        <source>Render on other machines</source>
        <translation>在其他机器上渲染</translation>
    </message>
    <message>
        <source>Duration</source>
        <translation>时长</translation>
    </message>
    <message>
        <source>Size</source>
        <translation>尺寸</translation>
    </message>
    <message>
        <source>Seed</source>
        <translation>种子</translation>
    </message>
    <message>
        <source>FreeInit</source>
        <translation>FreeInit</translation>
    </message>
    <message>
        <source>Speed</source>
        <translation>速度</translation>
    </message>
</context>
<context>
    <name>LanguageMenu</name>
    <message>
        <source>&amp;Language</source>
        <translation>语言(&amp;L)</translation>
    </message>
    <message>
        <source>&amp;System language</source>
        <translation>跟随系统(&amp;S)</translation>
    </message>
    <message>
        <source>The window stays in {0}.</source>
        <translation>界面语言仍为{0}。</translation>
    </message>
    <message>
        <source>The window will be in {0} the next time you start AnimateDiff Studio.</source>
        <translation>下次启动 AnimateDiff Studio 时，界面语言将切换为{0}。</translation>
    </message>
</context>
<context>
    <name>LocalModel</name>
    <message>
        <source>SD1.5 checkpoint</source>
        <translation>SD1.5 检查点</translation>
    </message>
    <message>
        <source>SDXL checkpoint</source>
        <translation>SDXL 检查点</translation>
    </message>
    <message>
        <source>motion module</source>
        <translation>运动模块</translation>
    </message>
    <message>
        <source>motion LoRA</source>
        <translation>运动 LoRA</translation>
    </message>
    <message>
        <source>image LoRA</source>
        <translation>图像 LoRA</translation>
    </message>
    <message>
        <source>textual-inversion embedding</source>
        <translation>文本反演嵌入</translation>
    </message>
    <message>
        <source>Wan transformer</source>
        <translation>Wan Transformer</translation>
    </message>
    <message>
        <source>Wan LoRA</source>
        <translation>Wan LoRA</translation>
    </message>
    <message>
        <source>diffusers model</source>
        <translation>diffusers 模型</translation>
    </message>
    <message>
        <source>unknown</source>
        <translation>未知</translation>
    </message>
</context>
<context>
    <name>LoraList</name>
    <message>
        <source>Weight</source>
        <translation>权重</translation>
    </message>
    <message>
        <source>Add LoRA…</source>
        <translation>添加 LoRA…</translation>
    </message>
    <message>
        <source>Add to {0}</source>
        <translation>添加到{0}</translation>
    </message>
    <message>
        <source>Add to {0} from a .safetensors file (type a hub id in the row to use one from the Hub)</source>
        <translation>从 .safetensors 文件添加到{0}（也可在行中输入 Hub 模型 ID，直接使用 Hub 上的模型）</translation>
    </message>
    <message>
        <source>Add to {0} from a folder or .safetensors file (type a hub id in the row to use one from the Hub)</source>
        <translation>从文件夹或 .safetensors 文件添加到{0}（也可在行中输入 Hub 模型 ID，直接使用 Hub 上的模型）</translation>
    </message>
    <message>
        <source>LoRA weight</source>
        <translation>LoRA 权重</translation>
    </message>
    <message>
        <source>Remove this LoRA</source>
        <translation>移除此 LoRA</translation>
    </message>
    <message>
        <source>Weight {0} (1.0 is full strength)</source>
        <translation>权重 {0}（1.0 为完全强度）</translation>
    </message>
    <message>
        <source>Choose a LoRA</source>
        <translation>选择 LoRA</translation>
    </message>
    <message>
        <source>Choose a motion LoRA folder</source>
        <translation>选择运动 LoRA 文件夹</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>Generate</source>
        <translation>生成</translation>
    </message>
    <message>
        <source>Generate with these settings (Ctrl+Enter). While a job runs, this adds to the queue.</source>
        <translation>用当前参数生成（Ctrl+Enter）。有任务运行时，会加入队列。</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>Stop the running job within one step (Esc)</source>
        <translation>在一步之内停止正在运行的任务（Esc）</translation>
    </message>
    <message>
        <source>Progress</source>
        <translation>进度</translation>
    </message>
    <message>
        <source>idle</source>
        <translation>空闲</translation>
    </message>
    <message>
        <source>Error</source>
        <translation>错误</translation>
    </message>
    <message>
        <source>Starting…</source>
        <translation>正在启动…</translation>
    </message>
    <message>
        <source>Ready. Models load when you generate, and stay loaded.</source>
        <translation>就绪。模型会在生成时加载，并保留在内存中。</translation>
    </message>
    <message>
        <source>&amp;File</source>
        <translation>文件(&amp;F)</translation>
    </message>
    <message>
        <source>&amp;New project</source>
        <translation>新建项目(&amp;N)</translation>
    </message>
    <message>
        <source>&amp;Open project…</source>
        <translation>打开项目(&amp;O)…</translation>
    </message>
    <message>
        <source>&amp;Save project</source>
        <translation>保存项目(&amp;S)</translation>
    </message>
    <message>
        <source>Save project &amp;as…</source>
        <translation>项目另存为(&amp;A)…</translation>
    </message>
    <message>
        <source>Open &amp;recent</source>
        <translation>最近打开(&amp;R)</translation>
    </message>
    <message>
        <source>&amp;Export…</source>
        <translation>导出(&amp;E)…</translation>
    </message>
    <message>
        <source>&amp;Unload models</source>
        <translation>卸载模型(&amp;U)</translation>
    </message>
    <message>
        <source>&amp;Quit</source>
        <translation>退出(&amp;Q)</translation>
    </message>
    <message>
        <source>&amp;Models</source>
        <translation>模型(&amp;M)</translation>
    </message>
    <message>
        <source>&amp;Manage…</source>
        <translation>管理(&amp;M)…</translation>
    </message>
    <message>
        <source>&amp;Generate</source>
        <translation>生成(&amp;G)</translation>
    </message>
    <message>
        <source>&amp;Cancel</source>
        <translation>取消(&amp;C)</translation>
    </message>
    <message>
        <source>&amp;View</source>
        <translation>视图(&amp;V)</translation>
    </message>
    <message>
        <source>&amp;Theme</source>
        <translation>主题(&amp;T)</translation>
    </message>
    <message>
        <source>&amp;Dark</source>
        <translation>深色(&amp;D)</translation>
    </message>
    <message>
        <source>&amp;System colours</source>
        <translation>跟随系统配色(&amp;S)</translation>
    </message>
    <message>
        <source>&amp;Help</source>
        <translation>帮助(&amp;H)</translation>
    </message>
    <message>
        <source>&amp;Getting started</source>
        <translation>快速入门(&amp;G)</translation>
    </message>
    <message>
        <source>&amp;Keyboard shortcuts</source>
        <translation>键盘快捷键(&amp;K)</translation>
    </message>
    <message>
        <source>&amp;Read me</source>
        <translation>自述文件(&amp;R)</translation>
    </message>
    <message>
        <source>&amp;About AnimateDiff Studio</source>
        <translation>关于 AnimateDiff Studio(&amp;A)</translation>
    </message>
    <message>
        <source>The tiny demo model keeps its own motion adapter: the preset set the steps, guidance and scheduler.</source>
        <translation>微型演示模型保留自己的运动适配器：预设只设置了步数、引导强度和调度器。</translation>
    </message>
    <message>
        <source>Error: {0}</source>
        <translation>错误：{0}</translation>
    </message>
    <message>
        <source>{0} Fix it and press Generate again.</source>
        <translation>{0}请修改后再次点击“生成”。</translation>
    </message>
    <message>
        <source>Building the tiny demo model (once, a few seconds)…</source>
        <translation>正在生成微型演示模型（仅需一次，几秒钟）…</translation>
    </message>
    <message>
        <source>Cancelling…</source>
        <translation>正在取消…</translation>
    </message>
    <message>
        <source>Add to queue</source>
        <translation>加入队列</translation>
    </message>
    <message>
        <source>{0} job(s) waiting. Ctrl+Enter adds another.</source>
        <translation>{0} 个任务正在等待。按 Ctrl+Enter 可再添加一个。</translation>
    </message>
    <message>
        <source>starting…</source>
        <translation>正在启动…</translation>
    </message>
    <message>
        <source>Job {0}: starting…</source>
        <translation>任务 {0}：正在启动…</translation>
    </message>
    <message>
        <source>loading models…</source>
        <translation>正在加载模型…</translation>
    </message>
    <message>
        <source>Loading models… (the first job after start or a model change)</source>
        <translation>正在加载模型…（启动后或更换模型后的第一个任务）</translation>
    </message>
    <message>
        <source>downloading {0}</source>
        <translation>正在下载 {0}</translation>
    </message>
    <message>
        <source>Job {0}: downloading {1} · {2} (file {3} of {4})</source>
        <translation>任务 {0}：正在下载 {1} · {2}（第 {3} 个文件，共 {4} 个）</translation>
    </message>
    <message>
        <source>step {0}/{1}, about {2} s left</source>
        <translation>第 {0}/{1} 步，约剩 {2} 秒</translation>
    </message>
    <message>
        <source>step {0}/{1}</source>
        <translation>第 {0}/{1} 步</translation>
    </message>
    <message>
        <source>Job {0}: {1}</source>
        <translation>任务 {0}：{1}</translation>
    </message>
    <message>
        <source>decoding…</source>
        <translation>正在解码…</translation>
    </message>
    <message>
        <source>Job {0}: decoding frames…</source>
        <translation>任务 {0}：正在解码帧…</translation>
    </message>
    <message>
        <source>Take {0}</source>
        <translation>镜头 {0}</translation>
    </message>
    <message>
        <source>{0} is done: {1}</source>
        <translation>{0} 已完成：{1}</translation>
    </message>
    <message>
        <source>Job {0}: {1} done in {2} s · seed {3} · {4}</source>
        <translation>任务 {0}：{1} 已完成，用时 {2} 秒 · 种子 {3} · {4}</translation>
    </message>
    <message>
        <source>Job {0}: cancelled.</source>
        <translation>任务 {0}：已取消。</translation>
    </message>
    <message>
        <source>Job {0} failed: {1}</source>
        <translation>任务 {0} 失败：{1}</translation>
    </message>
    <message>
        <source>Job {0} failed.</source>
        <translation>任务 {0} 失败。</translation>
    </message>
    <message>
        <source>Unloaded the models: freed {0}.</source>
        <translation>已卸载模型：释放了 {0}。</translation>
    </message>
    <message>
        <source>Nothing to unload: no models are in memory.</source>
        <translation>无需卸载：内存中没有模型。</translation>
    </message>
    <message>
        <source>done</source>
        <translation>完成</translation>
    </message>
    <message>
        <source>cancelled</source>
        <translation>已取消</translation>
    </message>
    <message>
        <source>failed</source>
        <translation>失败</translation>
    </message>
    <message>
        <source>Nothing to export yet: generate a clip first.</source>
        <translation>还没有可导出的内容：请先生成一个片段。</translation>
    </message>
    <message>
        <source>{0}: seed {1}, {2} frames, made on {3} in {4} s</source>
        <translation>{0}：种子 {1}，{2} 帧，在 {3} 上生成，用时 {4} 秒</translation>
    </message>
    <message>
        <source> (saving…)</source>
        <translation>（正在保存…）</translation>
    </message>
    <message>
        <source>(none yet)</source>
        <translation>（暂无）</translation>
    </message>
    <message>
        <source>Control video {0}</source>
        <translation>控制视频 {0}</translation>
    </message>
    <message>
        <source>Video to video with {0}</source>
        <translation>视频转视频：{0}</translation>
    </message>
    <message>
        <source>Preparing the control preview…</source>
        <translation>正在准备控制预览…</translation>
    </message>
    <message>
        <source>Control preview ready</source>
        <translation>控制预览已就绪</translation>
    </message>
</context>
<context>
    <name>MemoryPlanLabel</name>
    <message>
        <source>as VAE slicing does: the last bit of some pixels</source>
        <translation>与 VAE 切片相同：部分像素的最低位</translation>
    </message>
    <message>
        <source>tiles are blended, so pixels change slightly</source>
        <translation>分块之间会混合，像素略有变化</translation>
    </message>
    <message>
        <source>chunked decoding</source>
        <translation>分块解码</translation>
    </message>
    <message>
        <source>split inference</source>
        <translation>拆分推理</translation>
    </message>
    <message>
        <source>VAE tiling</source>
        <translation>VAE 分块</translation>
    </message>
    <message>
        <source>model CPU offload</source>
        <translation>模型卸载到 CPU</translation>
    </message>
    <message>
        <source>sequential CPU offload</source>
        <translation>逐层卸载到 CPU</translation>
    </message>
    <message>
        <source>{0} changes the frames ({1})</source>
        <translation>{0}会改变画面（{1}）</translation>
    </message>
    <message>
        <source>; </source>
        <translation>；</translation>
    </message>
    <message>
        <source> on {0}</source>
        <translation>（{0}）</translation>
    </message>
    <message>
        <source>memory plan: fits in {0} of {1} GiB{2}, no savers needed</source>
        <translation>内存计划：需要 {0} GiB，可用 {1} GiB{2}，无需节省内存的措施</translation>
    </message>
    <message>
        <source>memory plan: fits in {0} of {1} GiB{2} with {3}</source>
        <translation>内存计划：使用{3}后需要 {0} GiB，可用 {1} GiB{2}</translation>
    </message>
    <message>
        <source>, </source>
        <translation>、</translation>
    </message>
    <message>
        <source>Memory plan</source>
        <translation>内存计划</translation>
    </message>
    <message>
        <source>What the job does to fit in memory: Advanced &gt; Memory and device &gt; Memory plan turns this off.</source>
        <translation>任务为适应内存所做的调整：在“高级 &gt; 内存与设备 &gt; 内存计划”中可以关闭。</translation>
    </message>
</context>
<context>
    <name>ModelCatalog</name>
    <message>
        <source>LoRA weight</source>
        <translation>LoRA 权重</translation>
    </message>
    <message>
        <source>, </source>
        <translation>，</translation>
    </message>
    <message>
        <source>AnimateDiff motion adapter v1-5-2</source>
        <translation>AnimateDiff 运动适配器 v1-5-2</translation>
    </message>
    <message>
        <source>The default motion module of the diffusers AnimateDiff documentation; the eight motion LoRAs are made for it.</source>
        <translation>diffusers 的 AnimateDiff 文档默认使用的运动模块；八个运动 LoRA 都是为它制作的。</translation>
    </message>
    <message>
        <source>see the model card</source>
        <translation>见模型卡</translation>
    </message>
    <message>
        <source>AnimateDiff motion adapter v1-5-3 (v3)</source>
        <translation>AnimateDiff 运动适配器 v1-5-3（第 3 版）</translation>
    </message>
    <message>
        <source>AnimateDiff v3 motion module, also used with SparseCtrl.</source>
        <translation>AnimateDiff 第 3 版运动模块，也与 SparseCtrl 搭配使用。</translation>
    </message>
    <message>
        <source>AnimateLCM</source>
        <translation>AnimateLCM</translation>
    </message>
    <message>
        <source>Consistency-distilled motion module: good clips in 6 steps with the LCM scheduler and its LCM LoRA at 0.8 (the animatelcm preset).</source>
        <translation>一致性蒸馏的运动模块：配合 LCM 调度器和其 LCM LoRA（权重 0.8），6 步即可得到好的片段（AnimateLCM 预设）。</translation>
    </message>
    <message>
        <source>AnimateLCM LoRA (SD1.5)</source>
        <translation>AnimateLCM LoRA（SD1.5）</translation>
    </message>
    <message>
        <source>The image LoRA AnimateLCM is used with, at weight 0.8 (the animatelcm preset loads it).</source>
        <translation>AnimateLCM 搭配使用的图像 LoRA，权重 0.8（AnimateLCM 预设会加载它）。</translation>
    </message>
    <message>
        <source>AnimateDiff-Lightning, 2 steps</source>
        <translation>AnimateDiff-Lightning，2 步</translation>
    </message>
    <message>
        <source>Distilled motion module for 2-step generation (Euler, trailing timesteps, guidance 1).</source>
        <translation>用于 2 步生成的蒸馏运动模块（Euler 调度器、尾随时间步、引导强度 1）。</translation>
    </message>
    <message>
        <source>creativeml-openrail-m</source>
        <translation>creativeml-openrail-m</translation>
    </message>
    <message>
        <source>AnimateDiff-Lightning, 4 steps</source>
        <translation>AnimateDiff-Lightning，4 步</translation>
    </message>
    <message>
        <source>Distilled motion module for 4-step generation (Euler, trailing timesteps, guidance 1).</source>
        <translation>用于 4 步生成的蒸馏运动模块（Euler 调度器、尾随时间步、引导强度 1）。</translation>
    </message>
    <message>
        <source>AnimateDiff-Lightning, 8 steps</source>
        <translation>AnimateDiff-Lightning，8 步</translation>
    </message>
    <message>
        <source>Distilled motion module for 8-step generation (Euler, trailing timesteps, guidance 1).</source>
        <translation>用于 8 步生成的蒸馏运动模块（Euler 调度器、尾随时间步、引导强度 1）。</translation>
    </message>
    <message>
        <source>Motion LoRA: zoom in</source>
        <translation>运动 LoRA：推近</translation>
    </message>
    <message>
        <source>Camera zooms in. For the v1-5-2 adapter.</source>
        <translation>镜头推近。用于 v1-5-2 适配器。</translation>
    </message>
    <message>
        <source>Motion LoRA: zoom out</source>
        <translation>运动 LoRA：拉远</translation>
    </message>
    <message>
        <source>Camera zooms out. For the v1-5-2 adapter.</source>
        <translation>镜头拉远。用于 v1-5-2 适配器。</translation>
    </message>
    <message>
        <source>Motion LoRA: pan left</source>
        <translation>运动 LoRA：向左平移</translation>
    </message>
    <message>
        <source>Camera pans left. For the v1-5-2 adapter.</source>
        <translation>镜头向左平移。用于 v1-5-2 适配器。</translation>
    </message>
    <message>
        <source>Motion LoRA: pan right</source>
        <translation>运动 LoRA：向右平移</translation>
    </message>
    <message>
        <source>Camera pans right. For the v1-5-2 adapter.</source>
        <translation>镜头向右平移。用于 v1-5-2 适配器。</translation>
    </message>
    <message>
        <source>Motion LoRA: tilt up</source>
        <translation>运动 LoRA：向上倾斜</translation>
    </message>
    <message>
        <source>Camera tilts up. For the v1-5-2 adapter.</source>
        <translation>镜头向上倾斜。用于 v1-5-2 适配器。</translation>
    </message>
    <message>
        <source>Motion LoRA: tilt down</source>
        <translation>运动 LoRA：向下倾斜</translation>
    </message>
    <message>
        <source>Camera tilts down. For the v1-5-2 adapter.</source>
        <translation>镜头向下倾斜。用于 v1-5-2 适配器。</translation>
    </message>
    <message>
        <source>Motion LoRA: rolling clockwise</source>
        <translation>运动 LoRA：顺时针旋转</translation>
    </message>
    <message>
        <source>Camera rolls clockwise. For the v1-5-2 adapter.</source>
        <translation>镜头顺时针旋转。用于 v1-5-2 适配器。</translation>
    </message>
    <message>
        <source>Motion LoRA: rolling anticlockwise</source>
        <translation>运动 LoRA：逆时针旋转</translation>
    </message>
    <message>
        <source>Camera rolls anticlockwise. For the v1-5-2 adapter.</source>
        <translation>镜头逆时针旋转。用于 v1-5-2 适配器。</translation>
    </message>
    <message>
        <source>Realistic Vision V5.1 (no VAE)</source>
        <translation>Realistic Vision V5.1（不含 VAE）</translation>
    </message>
    <message>
        <source>Photographic SD1.5 fine-tune; the default base model of the diffusers AnimateDiff documentation.</source>
        <translation>照片风格的 SD1.5 微调模型；diffusers 的 AnimateDiff 文档默认使用的基础模型。</translation>
    </message>
    <message>
        <source>epiCRealism</source>
        <translation>epiCRealism</translation>
    </message>
    <message>
        <source>Realistic SD1.5 fine-tune used in the diffusers AnimateDiff and AnimateLCM examples.</source>
        <translation>写实风格的 SD1.5 微调模型，diffusers 的 AnimateDiff 与 AnimateLCM 示例中使用。</translation>
    </message>
    <message>
        <source>Stable Diffusion 1.5</source>
        <translation>Stable Diffusion 1.5</translation>
    </message>
    <message>
        <source>The original SD1.5 model; also the configuration source for single-file checkpoints.</source>
        <translation>原版 SD1.5 模型；也是单文件检查点的配置来源。</translation>
    </message>
    <message>
        <source>Wan 2.1 text-to-video 1.3B</source>
        <translation>Wan 2.1 文生视频 1.3B</translation>
    </message>
    <message>
        <source>Wan family: text- and video-to-video at 832x480; a 1.3B transformer with the UMT5-XXL text encoder (the largest part).</source>
        <translation>Wan 系列：832x480 的文生视频和视频转视频；13 亿参数的 Transformer，配 UMT5-XXL 文本编码器（最大的部分）。</translation>
    </message>
    <message>
        <source>Apache-2.0</source>
        <translation>Apache-2.0</translation>
    </message>
    <message>
        <source>Wan 2.2 text/image-to-video 5B</source>
        <translation>Wan 2.2 文生视频 / 图生视频 5B</translation>
    </message>
    <message>
        <source>Wan family: text- or image-to-video at 1280x704, 24 fps; a 5B transformer with the Wan 2.2 VAE.</source>
        <translation>Wan 系列：1280x704、24 fps 的文生视频或图生视频；50 亿参数的 Transformer，配 Wan 2.2 VAE。</translation>
    </message>
    <message>
        <source>ControlNet v1.1 canny (SD1.5)</source>
        <translation>ControlNet v1.1 边缘（canny，SD1.5）</translation>
    </message>
    <message>
        <source>Follows the edges of the control video: use with preprocess=canny.</source>
        <translation>跟随控制视频的边缘：与预处理 canny 搭配使用。</translation>
    </message>
    <message>
        <source>openrail</source>
        <translation>openrail</translation>
    </message>
    <message>
        <source>ControlNet v1.1 depth (SD1.5)</source>
        <translation>ControlNet v1.1 深度（depth，SD1.5）</translation>
    </message>
    <message>
        <source>Follows the depth of the control video: use with preprocess=depth.</source>
        <translation>跟随控制视频的深度：与预处理 depth 搭配使用。</translation>
    </message>
    <message>
        <source>ControlNet v1.1 lineart (SD1.5)</source>
        <translation>ControlNet v1.1 线稿（lineart，SD1.5）</translation>
    </message>
    <message>
        <source>Follows line drawings: use with preprocess=lineart.</source>
        <translation>跟随线稿：与预处理 lineart 搭配使用。</translation>
    </message>
    <message>
        <source>ControlNet v1.1 openpose (SD1.5)</source>
        <translation>ControlNet v1.1 姿态（OpenPose，SD1.5）</translation>
    </message>
    <message>
        <source>Follows a pose video (OpenPose-style skeletons): preprocess=pose makes one from any video; one made elsewhere goes in with preprocess=none.</source>
        <translation>跟随姿态视频（OpenPose 风格的骨架）：预处理 pose 可由任意视频生成；在别处制作的姿态视频用预处理 none 输入。</translation>
    </message>
    <message>
        <source>ControlNet v1.1 soft edge (SD1.5)</source>
        <translation>ControlNet v1.1 软边缘（SD1.5）</translation>
    </message>
    <message>
        <source>Follows soft edges (HED/PiDiNet maps made elsewhere, or lineart frames).</source>
        <translation>跟随软边缘（在别处制作的 HED/PiDiNet 图，或线稿帧）。</translation>
    </message>
    <message>
        <source>ControlNet v1.1 tile (SD1.5)</source>
        <translation>ControlNet v1.1 分块（tile，SD1.5）</translation>
    </message>
    <message>
        <source>Keeps the control video&apos;s colours and layout while adding detail: the source frames as they are (preprocess=none).</source>
        <translation>保留控制视频的颜色和布局并增加细节：直接使用原始帧（预处理 none）。</translation>
    </message>
    <message>
        <source>SparseCtrl RGB</source>
        <translation>SparseCtrl RGB</translation>
    </message>
    <message>
        <source>Keyframe images (--keyframe FRAME:IMAGE; 0:photo.png alone is image to video). Use with motion adapter v1-5-3.</source>
        <translation>关键帧图像（--keyframe 帧:图像；只给 0:photo.png 即为图生视频）。与运动适配器 v1-5-3 搭配使用。</translation>
    </message>
    <message>
        <source>SparseCtrl scribble</source>
        <translation>SparseCtrl 涂鸦</translation>
    </message>
    <message>
        <source>Keyframe scribbles (white lines on black). Use with motion adapter v1-5-3.</source>
        <translation>关键帧涂鸦（黑底白线）。与运动适配器 v1-5-3 搭配使用。</translation>
    </message>
    <message>
        <source>IP-Adapter SD1.5 (with its image encoder)</source>
        <translation>IP-Adapter SD1.5（含其图像编码器）</translation>
    </message>
    <message>
        <source>A reference image&apos;s look for the clip (--ip-adapter IMAGE[:SCALE]); the default IP-Adapter model.</source>
        <translation>让片段具有参考图像的外观（--ip-adapter 图像[:强度]）；默认的 IP-Adapter 模型。</translation>
    </message>
    <message>
        <source>apache-2.0</source>
        <translation>apache-2.0</translation>
    </message>
    <message>
        <source>IP-Adapter Plus SD1.5 (with its image encoder)</source>
        <translation>IP-Adapter Plus SD1.5（含其图像编码器）</translation>
    </message>
    <message>
        <source>Follows the reference image more closely than the plain IP-Adapter (--ip-adapter-model).</source>
        <translation>比普通 IP-Adapter 更贴近参考图像（--ip-adapter-model）。</translation>
    </message>
    <message>
        <source>Depth Anything V2 Small (depth preprocessor)</source>
        <translation>Depth Anything V2 Small（深度预处理器）</translation>
    </message>
    <message>
        <source>Makes depth control videos (preprocess=depth); downloaded on first use.</source>
        <translation>生成深度控制视频（预处理 depth）；首次使用时下载。</translation>
    </message>
    <message>
        <source>RT-DETR R50 (pose preprocessor: finds people)</source>
        <translation>RT-DETR R50（姿态预处理器：查找人物）</translation>
    </message>
    <message>
        <source>Finds the people whose poses ViTPose reads (preprocess=pose); downloaded on first use.</source>
        <translation>查找人物，供 ViTPose 读取其姿态（预处理 pose）；首次使用时下载。</translation>
    </message>
    <message>
        <source>ViTPose-B (pose preprocessor: keypoints)</source>
        <translation>ViTPose-B（姿态预处理器：关键点）</translation>
    </message>
    <message>
        <source>Reads each person&apos;s keypoints for OpenPose-style pose videos (preprocess=pose); downloaded on first use.</source>
        <translation>读取每个人的关键点，生成 OpenPose 风格的姿态视频（预处理 pose）；首次使用时下载。</translation>
    </message>
    <message>
        <source>RIFE v4.26 (frame interpolation)</source>
        <translation>RIFE v4.26（插帧）</translation>
    </message>
    <message>
        <source>The author&apos;s release of Practical-RIFE v4.26 (train_log/flownet.pkl, tensors only); the default of --interpolate.</source>
        <translation>作者发布的 Practical-RIFE v4.26（train_log/flownet.pkl，仅含张量）；--interpolate 的默认模型。</translation>
    </message>
    <message>
        <source>MIT (Practical-RIFE&apos;s README: its model links are under the project&apos;s MIT licence)</source>
        <translation>MIT（据 Practical-RIFE 的 README：其模型链接采用该项目的 MIT 许可）</translation>
    </message>
    <message>
        <source>Real-ESRGAN x4plus (upscaler)</source>
        <translation>Real-ESRGAN x4plus（放大）</translation>
    </message>
    <message>
        <source>Real-ESRGAN&apos;s general x4 model as safetensors; the default of --upscale-model.</source>
        <translation>Real-ESRGAN 的通用 4 倍模型（safetensors 格式）；--upscale-model 的默认模型。</translation>
    </message>
    <message>
        <source>bsd-3-clause (Real-ESRGAN)</source>
        <translation>bsd-3-clause（Real-ESRGAN）</translation>
    </message>
    <message>
        <source>Real-ESRGAN general x4v3 (small, fast upscaler)</source>
        <translation>Real-ESRGAN 通用 x4v3（小巧快速的放大模型）</translation>
    </message>
    <message>
        <source>The compact general model (1.2 M parameters); a pickle of tensors only, which loads without the pickle opt-in.</source>
        <translation>紧凑的通用模型（120 万参数）；只含张量的 pickle 文件，无需开启 pickle 选项即可加载。</translation>
    </message>
</context>
<context>
    <name>ModelChoice</name>
    <message>
        <source>Choose a weights file</source>
        <translation>选择权重文件</translation>
    </message>
    <message>
        <source>Use a weights file on this computer (.safetensors, .pth, .pkl, .zip)</source>
        <translation>使用本机上的权重文件（.safetensors、.pth、.pkl、.zip）</translation>
    </message>
    <message>
        <source>Weights file</source>
        <translation>权重文件</translation>
    </message>
    <message>
        <source>Weights (*.safetensors *.pth *.pt *.pkl *.zip)</source>
        <translation>权重 (*.safetensors *.pth *.pt *.pkl *.zip)</translation>
    </message>
</context>
<context>
    <name>ModelSourceField</name>
    <message>
        <source>Choose a local diffusers model folder</source>
        <translation>选择本地 diffusers 模型文件夹</translation>
    </message>
    <message>
        <source>Browse folder for {0}</source>
        <translation>为{0}选择文件夹</translation>
    </message>
    <message>
        <source>Choose a single .safetensors checkpoint</source>
        <translation>选择单个 .safetensors 模型文件</translation>
    </message>
    <message>
        <source>Browse file for {0}</source>
        <translation>为{0}选择文件</translation>
    </message>
    <message>
        <source>Choose a model folder</source>
        <translation>选择模型文件夹</translation>
    </message>
    <message>
        <source>Choose a checkpoint</source>
        <translation>选择模型文件</translation>
    </message>
</context>
<context>
    <name>ModelsPanel</name>
    <message>
        <source>Tiny demo model (offline, noise only)</source>
        <translation>微型演示模型（离线，仅生成噪点）</translation>
    </message>
    <message>
        <source>Tiny Wan 2.1 demo model (text or video to video)</source>
        <translation>微型 Wan 2.1 演示模型（文本或视频生成视频）</translation>
    </message>
    <message>
        <source>Tiny Wan 2.2 demo model (text or image to video)</source>
        <translation>微型 Wan 2.2 演示模型（文本或图像生成视频）</translation>
    </message>
    <message>
        <source>Safetensors (*.safetensors);;All files (*)</source>
        <translation>Safetensors 文件 (*.safetensors);;所有文件 (*)</translation>
    </message>
    <message>
        <source>Unload models</source>
        <translation>卸载模型</translation>
    </message>
    <message>
        <source>Free the memory the loaded models use; the next job loads them again.</source>
        <translation>释放已加载模型占用的内存；下一个任务会重新加载。</translation>
    </message>
</context>
<context>
    <name>ModelsWindow</name>
    <message>
        <source>Base model</source>
        <translation>基础模型</translation>
    </message>
    <message>
        <source>Motion adapter</source>
        <translation>运动适配器</translation>
    </message>
    <message>
        <source>Motion LoRA</source>
        <translation>运动 LoRA</translation>
    </message>
    <message>
        <source>Image LoRA</source>
        <translation>图像 LoRA</translation>
    </message>
    <message>
        <source>ControlNet</source>
        <translation>ControlNet</translation>
    </message>
    <message>
        <source>SparseCtrl</source>
        <translation>SparseCtrl</translation>
    </message>
    <message>
        <source>IP-Adapter</source>
        <translation>IP-Adapter</translation>
    </message>
    <message>
        <source>Preprocessor</source>
        <translation>预处理器</translation>
    </message>
    <message>
        <source>Interpolation model</source>
        <translation>插帧模型</translation>
    </message>
    <message>
        <source>Upscale model</source>
        <translation>放大模型</translation>
    </message>
    <message>
        <source>{0}/s</source>
        <translation>{0}/秒</translation>
    </message>
    <message>
        <source>about {0} s left</source>
        <translation>约剩 {0} 秒</translation>
    </message>
    <message>
        <source>Download models?</source>
        <translation>下载模型？</translation>
    </message>
    <message>
        <source>This job needs models that are not downloaded yet:
{0}

Download {1} from the Hugging Face Hub now, then generate? They are kept in the Hugging Face cache for next time.</source>
        <translation>此任务需要尚未下载的模型：
{0}

现在从 Hugging Face Hub 下载 {1}，然后开始生成吗？模型会保存在 Hugging Face 缓存中，下次可直接使用。</translation>
    </message>
    <message>
        <source>Nothing downloaded; the job was not started.</source>
        <translation>未下载任何内容，任务未开始。</translation>
    </message>
    <message>
        <source>Models</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Models — AnimateDiff Studio</source>
        <translation>模型 — AnimateDiff Studio</translation>
    </message>
    <message>
        <source>Model sources</source>
        <translation>模型来源</translation>
    </message>
    <message>
        <source>The Hub catalog and your local model folders</source>
        <translation>Hub 模型目录与你的本地模型文件夹</translation>
    </message>
    <message>
        <source>Local folders</source>
        <translation>本地文件夹</translation>
    </message>
    <message>
        <source>Model catalog</source>
        <translation>模型目录</translation>
    </message>
    <message>
        <source>Well-known models for AnimateDiff. Select one to download, delete or use it.</source>
        <translation>适用于 AnimateDiff 的常用模型。选中一个即可下载、删除或使用。</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Kind</source>
        <translation>类型</translation>
    </message>
    <message>
        <source>Size</source>
        <translation>大小</translation>
    </message>
    <message>
        <source>On this computer</source>
        <translation>本机状态</translation>
    </message>
    <message>
        <source>Download</source>
        <translation>下载</translation>
    </message>
    <message>
        <source>Download the selected model into the Hugging Face cache</source>
        <translation>将选中的模型下载到 Hugging Face 缓存</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>Cancel download</source>
        <translation>取消下载</translation>
    </message>
    <message>
        <source>Stop the download (within a second); finished files are kept</source>
        <translation>停止下载（一秒内生效）；已下载完成的文件会保留</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>删除</translation>
    </message>
    <message>
        <source>Remove the selected model from the Hugging Face cache to free the disk</source>
        <translation>从 Hugging Face 缓存中删除选中的模型，释放磁盘空间</translation>
    </message>
    <message>
        <source>Use</source>
        <translation>使用</translation>
    </message>
    <message>
        <source>Put the selected model in the main window&apos;s model fields</source>
        <translation>将选中的模型填入主窗口的模型栏</translation>
    </message>
    <message>
        <source>Download progress</source>
        <translation>下载进度</translation>
    </message>
    <message>
        <source>Bytes downloaded of the total, speed and time left</source>
        <translation>已下载量与总量、下载速度和剩余时间</translation>
    </message>
    <message>
        <source>Model folders</source>
        <translation>模型文件夹</translation>
    </message>
    <message>
        <source>Folders of .safetensors files (for example an A1111 or ComfyUI models folder)</source>
        <translation>存放 .safetensors 文件的文件夹（例如 A1111 或 ComfyUI 的模型文件夹）</translation>
    </message>
    <message>
        <source>Add folder…</source>
        <translation>添加文件夹…</translation>
    </message>
    <message>
        <source>Add folder</source>
        <translation>添加文件夹</translation>
    </message>
    <message>
        <source>Add a folder of .safetensors models</source>
        <translation>添加一个存放 .safetensors 模型的文件夹</translation>
    </message>
    <message>
        <source>Remove folder</source>
        <translation>移除文件夹</translation>
    </message>
    <message>
        <source>Stop listing the selected folder (its files stay)</source>
        <translation>不再列出选中的文件夹（其中的文件不会删除）</translation>
    </message>
    <message>
        <source>Local models</source>
        <translation>本地模型</translation>
    </message>
    <message>
        <source>Every .safetensors in your folders, told apart from its header</source>
        <translation>你的文件夹中所有的 .safetensors 文件，按文件头识别类型</translation>
    </message>
    <message>
        <source>File</source>
        <translation>文件</translation>
    </message>
    <message>
        <source>Note</source>
        <translation>备注</translation>
    </message>
    <message>
        <source>Use local model</source>
        <translation>使用本地模型</translation>
    </message>
    <message>
        <source>Put the selected file in the matching model field</source>
        <translation>将选中的文件填入对应的模型栏</translation>
    </message>
    <message>
        <source>downloaded · {0}</source>
        <translation>已下载 · {0}</translation>
    </message>
    <message>
        <source>incomplete · {0}</source>
        <translation>未下载完整 · {0}</translation>
    </message>
    <message>
        <source>not downloaded</source>
        <translation>未下载</translation>
    </message>
    <message>
        <source>not usable with these adapters</source>
        <translation>无法与这些适配器搭配使用</translation>
    </message>
    <message>
        <source>Select a model to see what it is for.</source>
        <translation>选中一个模型，查看它的用途。</translation>
    </message>
    <message>
        <source>{0} · licence: {1} · recommended: {2}</source>
        <translation>{0} · 许可证：{1} · 推荐设置：{2}</translation>
    </message>
    <message>
        <source>asking the Hub…</source>
        <translation>正在连接 Hub…</translation>
    </message>
    <message>
        <source>Downloading {0}…</source>
        <translation>正在下载 {0}…</translation>
    </message>
    <message>
        <source>Cancelling…</source>
        <translation>正在取消…</translation>
    </message>
    <message>
        <source>Downloading {0}: {1} (file {2} of {3})</source>
        <translation>正在下载 {0}：{1}（第 {2} 个文件，共 {3} 个）</translation>
    </message>
    <message>
        <source>done</source>
        <translation>完成</translation>
    </message>
    <message>
        <source>Downloaded {0}.</source>
        <translation>已下载 {0}。</translation>
    </message>
    <message>
        <source>cancelled</source>
        <translation>已取消</translation>
    </message>
    <message>
        <source>failed</source>
        <translation>失败</translation>
    </message>
    <message>
        <source>Download of {0} cancelled.</source>
        <translation>已取消下载 {0}。</translation>
    </message>
    <message>
        <source>Delete model?</source>
        <translation>删除模型？</translation>
    </message>
    <message>
        <source>Delete {0} ({1}) from the Hugging Face cache?</source>
        <translation>要从 Hugging Face 缓存中删除 {0}（{1}）吗？</translation>
    </message>
    <message>
        <source>Could not delete {0}: {1}</source>
        <translation>无法删除 {0}：{1}</translation>
    </message>
    <message>
        <source>Deleted {0}: {1} freed.</source>
        <translation>已删除 {0}，释放了 {1}。</translation>
    </message>
    <message>
        <source>Download {0} first.</source>
        <translation>请先下载 {0}。</translation>
    </message>
    <message>
        <source>Using {0}.</source>
        <translation>正在使用 {0}。</translation>
    </message>
    <message>
        <source>{0} files have no model field here ({1}).</source>
        <translation>{0} 文件在这里没有对应的模型栏（{1}）。</translation>
    </message>
    <message>
        <source>{0} files have no model field here.</source>
        <translation>{0} 文件在这里没有对应的模型栏。</translation>
    </message>
    <message>
        <source>Added {0}: {1} model files in your folders.</source>
        <translation>已添加 {0}：你的文件夹中共有 {1} 个模型文件。</translation>
    </message>
    <message>
        <source>Add a model folder</source>
        <translation>添加模型文件夹</translation>
    </message>
</context>
<context>
    <name>ParametersPanel</name>
    <message>
        <source>Square 1:1</source>
        <translation>方形 1:1</translation>
    </message>
    <message>
        <source>Landscape 3:2</source>
        <translation>横向 3:2</translation>
    </message>
    <message>
        <source>Portrait 2:3</source>
        <translation>竖向 2:3</translation>
    </message>
    <message>
        <source>Wide 16:9</source>
        <translation>宽屏 16:9</translation>
    </message>
    <message>
        <source>Tall 9:16</source>
        <translation>竖屏 9:16</translation>
    </message>
    <message>
        <source>Custom</source>
        <translation>自定义</translation>
    </message>
    <message>
        <source>A file or folder; or drop a file on the window</source>
        <translation>文件或文件夹；也可以把文件拖到窗口上</translation>
    </message>
    <message>
        <source>Choose the input video</source>
        <translation>选择输入视频</translation>
    </message>
    <message>
        <source>Browse input video</source>
        <translation>浏览输入视频</translation>
    </message>
    <message>
        <source>Random</source>
        <translation>随机</translation>
    </message>
    <message>
        <source>Random seed</source>
        <translation>随机种子</translation>
    </message>
    <message>
        <source>Pick a new seed for every job (the one used is shown and kept with the take). Untick to lock the seed.</source>
        <translation>每个任务使用新的种子（实际使用的种子会显示出来并随镜头保存）。取消勾选即可固定种子。</translation>
    </message>
    <message>
        <source>Fast</source>
        <translation>快速</translation>
    </message>
    <message>
        <source>window </source>
        <translation>窗口 </translation>
    </message>
    <message>
        <source>stride </source>
        <translation>步长 </translation>
    </message>
    <message>
        <source>Duration in seconds</source>
        <translation>时长（秒）</translation>
    </message>
    <message>
        <source>The clip&apos;s length in seconds at this frame rate; sets the number of frames.</source>
        <translation>按当前帧率计算的片段时长（秒）；修改它会设置帧数。</translation>
    </message>
    <message>
        <source> s</source>
        <comment>seconds, after a number</comment>
        <translation> 秒</translation>
    </message>
    <message>
        <source> frames</source>
        <translation> 帧</translation>
    </message>
    <message>
        <source> fps</source>
        <comment>frames per second, after a number</comment>
        <translation> 帧/秒</translation>
    </message>
    <message>
        <source>Aspect ratio</source>
        <translation>宽高比</translation>
    </message>
    <message>
        <source>Shape of the clip. A preset keeps the shorter side and sets the longer one; SD1.5 models work best with the shorter side at 512.</source>
        <translation>片段的画面比例。选择预设会保留短边并据此设置长边；SD1.5 模型在短边为 512 时效果最好。</translation>
    </message>
    <message>
        <source>Videos and animations (*.mp4 *.mov *.webm *.mkv *.avi *.gif *.webp);;All files (*)</source>
        <translation>视频和动图 (*.mp4 *.mov *.webm *.mkv *.avi *.gif *.webp);;所有文件 (*)</translation>
    </message>
</context>
<context>
    <name>Preset</name>
    <message>
        <source>Standard (25 steps)</source>
        <translation>标准（25 步）</translation>
    </message>
    <message>
        <source>AnimateLCM (6 steps)</source>
        <translation>AnimateLCM（6 步）</translation>
    </message>
    <message>
        <source>Lightning (4 steps)</source>
        <translation>Lightning（4 步）</translation>
    </message>
</context>
<context>
    <name>ProjectController</name>
    <message>
        <source>Untitled</source>
        <translation>未命名</translation>
    </message>
    <message>
        <source>Unsaved takes</source>
        <translation>未保存的镜头</translation>
    </message>
    <message>
        <source>“{0}” has unsaved takes. Save them first?</source>
        <translation>“{0}”中有未保存的镜头。要先保存吗？</translation>
    </message>
    <message>
        <source>Restore unsaved work?</source>
        <translation>恢复未保存的工作？</translation>
    </message>
    <message>
        <source>AnimateDiff Studio did not close normally last time. Restore the takes it had not saved?</source>
        <translation>AnimateDiff Studio 上次未正常关闭。要恢复当时未保存的镜头吗？</translation>
    </message>
    <message>
        <source>Opened {0} ({1} takes)</source>
        <translation>已打开 {0}（{1} 个镜头）</translation>
    </message>
    <message>
        <source>Open project</source>
        <translation>打开项目</translation>
    </message>
    <message>
        <source>AnimateDiff Studio projects (*{0})</source>
        <translation>AnimateDiff Studio 项目 (*{0})</translation>
    </message>
    <message>
        <source>Save project</source>
        <translation>保存项目</translation>
    </message>
    <message>
        <source>Saving {0}…</source>
        <translation>正在保存 {0}…</translation>
    </message>
    <message>
        <source>Could not save the project: {0}</source>
        <translation>无法保存项目：{0}</translation>
    </message>
    <message>
        <source>Saved {0}</source>
        <translation>已保存 {0}</translation>
    </message>
    <message>
        <source>Autosave failed: {0}</source>
        <translation>自动保存失败：{0}</translation>
    </message>
    <message>
        <source>The recovery file could not be read: {0}. It was kept as {1}.</source>
        <translation>无法读取恢复文件：{0}。该文件已保留为 {1}。</translation>
    </message>
    <message>
        <source>Recovered</source>
        <translation>已恢复</translation>
    </message>
    <message>
        <source>Restored the unsaved changes to {0}.</source>
        <translation>已恢复“{0}”中未保存的更改。</translation>
    </message>
    <message>
        <source>Restored 1 unsaved take.</source>
        <translation>已恢复 1 个未保存的镜头。</translation>
    </message>
    <message>
        <source>Restored {0} unsaved takes.</source>
        <translation>已恢复 {0} 个未保存的镜头。</translation>
    </message>
</context>
<context>
    <name>PromptPanel</name>
    <message>
        <source>Optional. For example: {0}</source>
        <translation>可选。例如：{0}</translation>
    </message>
    <message>
        <source>Frame</source>
        <translation>帧</translation>
    </message>
    <message>
        <source>Prompt from this frame</source>
        <translation>从此帧开始的提示词</translation>
    </message>
    <message>
        <source>Add frame prompt</source>
        <translation>添加帧提示词</translation>
    </message>
    <message>
        <source>Add a prompt that takes over at a later frame</source>
        <translation>添加一个在之后某一帧接替的提示词</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>移除</translation>
    </message>
    <message>
        <source>Remove the selected frame prompt</source>
        <translation>移除选中的帧提示词</translation>
    </message>
    <message>
        <source>Prompt travel row {0}: the frame must be a number, got {1}</source>
        <translation>提示词切换第 {0} 行：帧必须是数字，当前为 {1}</translation>
    </message>
</context>
<context>
    <name>QualityFollower</name>
    <message>
        <source>Custom</source>
        <translation>自定义</translation>
    </message>
</context>
<context>
    <name>QueuePanel</name>
    <message>
        <source>Job queue</source>
        <translation>任务队列</translation>
    </message>
    <message>
        <source>Jobs waiting to run. Move them up or down, or remove them.</source>
        <translation>等待运行的任务。可以上移、下移或移除。</translation>
    </message>
    <message>
        <source>Run the selected job earlier</source>
        <translation>提前运行选中的任务</translation>
    </message>
    <message>
        <source>Run the selected job later</source>
        <translation>推后运行选中的任务</translation>
    </message>
    <message>
        <source>Remove the selected job from the queue</source>
        <translation>从队列中移除选中的任务</translation>
    </message>
    <message>
        <source>Queue</source>
        <translation>队列</translation>
    </message>
    <message>
        <source>(no prompt)</source>
        <translation>（无提示词）</translation>
    </message>
    <message>
        <source>random</source>
        <translation>随机</translation>
    </message>
    <message>
        <source>{0} · seed {1}</source>
        <translation>{0} · 种子 {1}</translation>
    </message>
    <message>
        <source>▶ running · {0}: {1}</source>
        <translation>▶ 运行中 · {0}：{1}</translation>
    </message>
    <message>
        <source>▶ running: {0}</source>
        <translation>▶ 运行中：{0}</translation>
    </message>
</context>
<context>
    <name>QuitSequence</name>
    <message>
        <source>Quitting once the project is written…</source>
        <translation>项目写入完成后即退出…</translation>
    </message>
    <message>
        <source>Stopping…</source>
        <translation>正在停止…</translation>
    </message>
    <message>
        <source>Still {0}: the window closes when that ends. Close it again to quit now.</source>
        <translation>仍在{0}：完成后窗口将关闭。再次关闭窗口可立即退出。</translation>
    </message>
</context>
<context>
    <name>RenderOnPanel</name>
    <message>
        <source>This computer</source>
        <translation>本机</translation>
    </message>
    <message>
        <source>Workers at a broker</source>
        <translation>消息代理上的渲染节点</translation>
    </message>
    <message>
        <source>Cannot check the broker: {0}: {1}</source>
        <translation>无法检查消息代理：{0}：{1}</translation>
    </message>
    <message>
        <source>The broker did not say how many workers are connected.</source>
        <translation>消息代理未告知已连接的渲染节点数量。</translation>
    </message>
    <message>
        <source>No worker connected: jobs wait until one starts.</source>
        <translation>没有已连接的渲染节点：任务将等待，直到有节点启动。</translation>
    </message>
    <message>
        <source>1 worker connected.</source>
        <translation>已连接 1 个渲染节点。</translation>
    </message>
    <message>
        <source>{0} workers connected.</source>
        <translation>已连接 {0} 个渲染节点。</translation>
    </message>
    <message>
        <source>Render on</source>
        <translation>渲染位置</translation>
    </message>
    <message>
        <source>Render here, or on the render workers at a RabbitMQ broker</source>
        <translation>在本机渲染，或交给 RabbitMQ 消息代理上的渲染节点</translation>
    </message>
    <message>
        <source>Broker URL</source>
        <translation>消息代理地址</translation>
    </message>
    <message>
        <source>amqp://user:password@host:5672// or amqps://… (empty: $ADS_BROKER_URL)</source>
        <translation>amqp://用户名:密码@主机:5672// 或 amqps://…（留空：使用 $ADS_BROKER_URL）</translation>
    </message>
    <message>
        <source>Show</source>
        <translation>显示</translation>
    </message>
    <message>
        <source>Show the broker URL</source>
        <translation>显示代理地址</translation>
    </message>
    <message>
        <source>Show or hide the broker URL, which holds its password</source>
        <translation>显示或隐藏代理地址（其中含有密码）</translation>
    </message>
    <message>
        <source>Check</source>
        <translation>检查</translation>
    </message>
    <message>
        <source>Check the broker</source>
        <translation>检查消息代理</translation>
    </message>
    <message>
        <source>Connect to the broker and count the workers</source>
        <translation>连接消息代理并统计渲染节点数量</translation>
    </message>
    <message>
        <source>Workers status</source>
        <translation>渲染节点状态</translation>
    </message>
    <message>
        <source>Hide</source>
        <translation>隐藏</translation>
    </message>
    <message>
        <source>Checking the broker…</source>
        <translation>正在检查消息代理…</translation>
    </message>
    <message>
        <source>Job {0}: {1}</source>
        <translation>任务 {0}：{1}</translation>
    </message>
    <message>
        <source>No worker connected: the job waits until one starts.</source>
        <translation>没有已连接的渲染节点：任务将等待，直到有节点启动。</translation>
    </message>
    <message>
        <source>queued at the broker</source>
        <translation>已在消息代理排队</translation>
    </message>
    <message>
        <source>waiting: no worker connected</source>
        <translation>等待中：没有已连接的渲染节点</translation>
    </message>
    <message>
        <source>on {0}</source>
        <translation>正在 {0} 上运行</translation>
    </message>
    <message>
        <source>requeued: its worker was lost; now on {0}</source>
        <translation>已重新排队：原渲染节点失联；现在在 {0} 上运行</translation>
    </message>
</context>
<context>
    <name>SaveStatus</name>
    <message>
        <source>Saving the project</source>
        <translation>正在保存项目</translation>
    </message>
    <message>
        <source>saving %v of %m takes</source>
        <translation>正在保存第 %v 个镜头，共 %m 个</translation>
    </message>
</context>
<context>
    <name>Section</name>
    <message>
        <source>Show or hide {0}.</source>
        <translation>显示或隐藏“{0}”。</translation>
    </message>
</context>
<context>
    <name>Setting</name>
    <message>
        <source>{0} {1} (usual {2})</source>
        <translation>{0} {1}（常用值 {2}）</translation>
    </message>
    <message>
        <source>Prompt</source>
        <translation>提示词</translation>
    </message>
    <message>
        <source>What to animate. Comma-separated phrases work well, e.g. &apos;a sunset over the sea, fishing boats, golden hour&apos;.</source>
        <translation>要生成的动画内容（请用英文书写）。用逗号分隔的短语效果较好，例如“a sunset over the sea, fishing boats, golden hour”。</translation>
    </message>
    <message>
        <source>Negative prompt</source>
        <translation>反向提示词</translation>
    </message>
    <message>
        <source>What to avoid, e.g. &apos;bad quality, worse quality, blurry&apos;.</source>
        <translation>不希望出现的内容，例如“bad quality, worse quality, blurry”。</translation>
    </message>
    <message>
        <source>Mode</source>
        <translation>模式</translation>
    </message>
    <message>
        <source>Text to video makes a clip from the prompt; video to video restyles an input clip.</source>
        <translation>文本转视频根据提示词生成片段；视频转视频为输入的片段更换风格。</translation>
    </message>
    <message>
        <source>Text to video</source>
        <translation>文本转视频</translation>
    </message>
    <message>
        <source>Video to video</source>
        <translation>视频转视频</translation>
    </message>
    <message>
        <source>Prompt travel</source>
        <translation>提示词切换</translation>
    </message>
    <message>
        <source>Prompt travel: from this frame on, the prompt changes smoothly to this text (uses FreeNoise).</source>
        <translation>提示词切换：从该帧起，提示词平滑过渡为这段文字（使用 FreeNoise）。</translation>
    </message>
    <message>
        <source>Frames</source>
        <translation>帧数</translation>
    </message>
    <message>
        <source>Number of frames. 16 is what the motion modules were trained on; longer clips use FreeNoise. Video to video takes at most this many input frames.</source>
        <translation>帧数。运动模块以 16 帧训练；更长的片段会使用 FreeNoise。视频转视频最多读取这么多输入帧。</translation>
    </message>
    <message>
        <source>Width</source>
        <translation>宽度</translation>
    </message>
    <message>
        <source>Width in pixels, a multiple of 8. SD1.5 models work best at 512.</source>
        <translation>宽度（像素），须为 8 的倍数。SD1.5 模型在 512 时效果最好。</translation>
    </message>
    <message>
        <source>Height</source>
        <translation>高度</translation>
    </message>
    <message>
        <source>Height in pixels, a multiple of 8. SD1.5 models work best at 512.</source>
        <translation>高度（像素），须为 8 的倍数。SD1.5 模型在 512 时效果最好。</translation>
    </message>
    <message>
        <source>Steps</source>
        <translation>步数</translation>
    </message>
    <message>
        <source>Denoising steps: more is slower and usually cleaner. 20-30 is typical (4-8 for LCM).</source>
        <translation>去噪步数：越多越慢，画面通常越干净。一般为 20–30（LCM 为 4–8）。</translation>
    </message>
    <message>
        <source>Guidance</source>
        <translation>引导强度</translation>
    </message>
    <message>
        <source>How strictly to follow the prompt (CFG scale). 7-8 is typical; LCM uses 1-2.</source>
        <translation>遵循提示词的严格程度（CFG 系数）。一般为 7–8；LCM 用 1–2。</translation>
    </message>
    <message>
        <source>Seed</source>
        <translation>种子</translation>
    </message>
    <message>
        <source>The random seed: the same seed and settings give the same clip. Without one, each job picks a new seed, which is kept with the result.</source>
        <translation>随机种子：相同的种子和参数会生成相同的片段。不指定时，每个任务会选用新的种子，并随结果保存。</translation>
    </message>
    <message>
        <source>Scheduler</source>
        <translation>调度器</translation>
    </message>
    <message>
        <source>The sampler. DDIM is the AnimateDiff documentation&apos;s choice; DPM++ 2M Karras is sharp at few steps; LCM is for AnimateLCM.</source>
        <translation>采样器。DDIM 是 AnimateDiff 文档推荐的选择；DPM++ 2M Karras 在步数少时也很清晰；LCM 用于 AnimateLCM。</translation>
    </message>
    <message>
        <source>Frames per second</source>
        <translation>帧率</translation>
    </message>
    <message>
        <source>Playback and export rate. AnimateDiff clips are usually played at 8 fps.</source>
        <translation>播放和导出的帧率。AnimateDiff 片段通常以 8 fps 播放。</translation>
    </message>
    <message>
        <source>Clip skip</source>
        <translation>CLIP 跳过层数</translation>
    </message>
    <message>
        <source>Use an earlier text-encoder layer: 1-2 suits many anime models; off by default.</source>
        <translation>使用文本编码器中更靠前的层：1–2 适合许多动漫模型；默认关闭。</translation>
    </message>
    <message>
        <source>off</source>
        <translation>关闭</translation>
    </message>
    <message>
        <source>Start image</source>
        <translation>起始图片</translation>
    </message>
    <message>
        <source>Image-to-video: the clip starts from this image (resized to the clip&apos;s size). Only models that can use one (Wan2.2-TI2V-5B, Wan image-to-video models).</source>
        <translation>图生视频：片段从这张图片开始（缩放到片段的尺寸）。仅适用于能使用起始图片的模型（Wan2.2-TI2V-5B、Wan 图生视频模型）。</translation>
    </message>
    <message>
        <source>Input video</source>
        <translation>输入视频</translation>
    </message>
    <message>
        <source>The clip to restyle: a video file, an animated GIF/WebP or a folder of frames.</source>
        <translation>要更换风格的片段：视频文件、GIF/WebP 动图，或存放帧图像的文件夹。</translation>
    </message>
    <message>
        <source>Strength</source>
        <translation>重绘强度</translation>
    </message>
    <message>
        <source>How far to move away from the input video: 0.3 keeps it close, 0.8 (default) restyles strongly, 1.0 ignores it.</source>
        <translation>偏离输入视频的程度：0.3 贴近原片，0.8（默认）风格变化明显，1.0 完全忽略原片。</translation>
    </message>
    <message>
        <source>FreeInit iterations</source>
        <translation>FreeInit 迭代次数</translation>
    </message>
    <message>
        <source>FreeInit: re-runs the denoising 2-3 times for steadier motion; 0 is off. Each iteration costs a full run.</source>
        <translation>FreeInit：将去噪重复 2–3 次，使运动更稳定；0 为关闭。每次迭代都要完整运行一遍。</translation>
    </message>
    <message>
        <source>FreeInit filter</source>
        <translation>FreeInit 滤波器</translation>
    </message>
    <message>
        <source>The frequency filter FreeInit uses; butterworth is the default.</source>
        <translation>FreeInit 使用的频率滤波器；默认为巴特沃斯。</translation>
    </message>
    <message>
        <source>Butterworth</source>
        <translation>巴特沃斯</translation>
    </message>
    <message>
        <source>Ideal</source>
        <translation>理想</translation>
    </message>
    <message>
        <source>Gaussian</source>
        <translation>高斯</translation>
    </message>
    <message>
        <source>FreeInit fast sampling</source>
        <translation>FreeInit 快速采样</translation>
    </message>
    <message>
        <source>FreeInit coarse-to-fine: fewer steps in early iterations, faster and a bit lower quality.</source>
        <translation>FreeInit 由粗到细：前几次迭代步数较少，速度更快，质量略低。</translation>
    </message>
    <message>
        <source>FreeU</source>
        <translation>FreeU</translation>
    </message>
    <message>
        <source>FreeU re-weights the UNet&apos;s features for more detail at no cost. Typical SD1.5 values: 0.9, 0.2, 1.2, 1.4.</source>
        <translation>FreeU 重新调整 UNet 特征的权重，不增加耗时即可获得更多细节。SD1.5 的常用值：0.9、0.2、1.2、1.4。</translation>
    </message>
    <message>
        <source>Context length</source>
        <translation>上下文长度</translation>
    </message>
    <message>
        <source>FreeNoise, for clips longer than the motion module&apos;s window: denoise in overlapping windows of this many frames; 16 suits most motion modules.</source>
        <translation>FreeNoise，用于比运动模块窗口更长的片段：以这么多帧为一个窗口、窗口相互重叠地去噪；16 适合大多数运动模块。</translation>
    </message>
    <message>
        <source>FreeNoise</source>
        <translation>FreeNoise</translation>
    </message>
    <message>
        <source>Context stride</source>
        <translation>上下文步长</translation>
    </message>
    <message>
        <source>Frames between the starts of FreeNoise windows (4 is usual).</source>
        <translation>相邻 FreeNoise 窗口起点之间的帧数（通常为 4）。</translation>
    </message>
    <message>
        <source>Quality</source>
        <translation>质量</translation>
    </message>
    <message>
        <source>A documented recipe: standard (DDIM, 25 steps); animatelcm and lightning are distilled motion models that need 6 and 4 steps. It sets the motion adapter, scheduler, steps, guidance and LoRA; values you set yourself win.</source>
        <translation>经过文档验证的配方：标准（DDIM，25 步）；AnimateLCM 和 Lightning 是蒸馏运动模型，分别只需 6 步和 4 步。预设会设置运动适配器、调度器、步数、引导强度和 LoRA；你自己设置的值优先。</translation>
    </message>
    <message>
        <source>Controls</source>
        <translation>控制</translation>
    </message>
    <message>
        <source>A ControlNet and its control video (video, GIF/WebP, folder of frames or one image; in video to video the input by default). preprocess: none, canny, lineart, depth or pose. Several make a MultiControlNet.</source>
        <translation>一个 ControlNet 及其控制视频（视频、GIF/WebP、帧文件夹或一张图片；视频转视频时默认使用输入视频）。预处理：none、canny、lineart、depth 或 pose。多个控制组成 MultiControlNet。</translation>
    </message>
    <message>
        <source>SparseCtrl model</source>
        <translation>SparseCtrl 模型</translation>
    </message>
    <message>
        <source>A SparseCtrl model (RGB or scribble, with motion adapter v1-5-3) that holds the clip to the keyframes.</source>
        <translation>SparseCtrl 模型（RGB 或涂鸦，配合 1-5-3 版运动适配器使用），让片段贴合关键帧。</translation>
    </message>
    <message>
        <source>Keyframes</source>
        <translation>关键帧</translation>
    </message>
    <message>
        <source>An image at a frame for SparseCtrl; 0:photo.png alone is image to video.</source>
        <translation>SparseCtrl 在某一帧使用的图片；只给 0:photo.png 即为图生视频。</translation>
    </message>
    <message>
        <source>IP-Adapter image</source>
        <translation>IP-Adapter 参考图</translation>
    </message>
    <message>
        <source>A reference image whose look the clip takes on (IP-Adapter), with its scale (1.0 by default; 0.5-0.7 keeps more of the prompt).</source>
        <translation>参考图片，片段会带上它的风格（IP-Adapter），附带强度（默认 1.0；0.5-0.7 能更多保留提示词）。</translation>
    </message>
    <message>
        <source>IP-Adapter model</source>
        <translation>IP-Adapter 模型</translation>
    </message>
    <message>
        <source>The IP-Adapter weights file; its image encoder is the image_encoder folder beside it, as in h94/IP-Adapter.</source>
        <translation>IP-Adapter 权重文件；其图像编码器是旁边的 image_encoder 文件夹，与 h94/IP-Adapter 的布局相同。</translation>
    </message>
    <message>
        <source>Base model</source>
        <translation>基础模型</translation>
    </message>
    <message>
        <source>A Stable Diffusion 1.5-based model: a Hugging Face Hub id, a local diffusers folder, or one .safetensors checkpoint.</source>
        <translation>基于 Stable Diffusion 1.5 的模型：Hugging Face Hub 模型 ID、本地 diffusers 文件夹，或单个 .safetensors 模型文件。</translation>
    </message>
    <message>
        <source>Motion adapter</source>
        <translation>运动适配器</translation>
    </message>
    <message>
        <source>The AnimateDiff motion module that adds movement: a Hugging Face Hub id, a local folder or one motion-module file.</source>
        <translation>为画面加入运动的 AnimateDiff 运动模块：Hugging Face Hub 模型 ID、本地文件夹，或单个运动模块文件。</translation>
    </message>
    <message>
        <source>Motion LoRAs</source>
        <translation>运动 LoRA</translation>
    </message>
    <message>
        <source>Motion LoRAs add a kind of camera motion (zoom, pan, tilt). Several combine, each with its weight (usually 0.5-1.0).</source>
        <translation>运动 LoRA 添加某种镜头运动（推拉、平移、俯仰）。可叠加多个，各自设置权重（通常为 0.5–1.0）。</translation>
    </message>
    <message>
        <source>Device</source>
        <translation>设备</translation>
    </message>
    <message>
        <source>Where to run: auto picks a CUDA GPU, then Apple MPS, then the CPU.</source>
        <translation>运行位置：“自动”会依次选择 CUDA GPU、Apple MPS、CPU。</translation>
    </message>
    <message>
        <source>Automatic</source>
        <translation>自动</translation>
    </message>
    <message>
        <source>CPU</source>
        <translation>CPU</translation>
    </message>
    <message>
        <source>CUDA</source>
        <translation>CUDA</translation>
    </message>
    <message>
        <source>MPS</source>
        <translation>MPS</translation>
    </message>
    <message>
        <source>Precision</source>
        <translation>精度</translation>
    </message>
    <message>
        <source>Number format: auto is float16 on a GPU and float32 on the CPU. bfloat16 suits recent GPUs.</source>
        <translation>数值格式：“自动”在 GPU 上为 float16，在 CPU 上为 float32。bfloat16 适合较新的 GPU。</translation>
    </message>
    <message>
        <source>float16</source>
        <translation>float16</translation>
    </message>
    <message>
        <source>bfloat16</source>
        <translation>bfloat16</translation>
    </message>
    <message>
        <source>float32</source>
        <translation>float32</translation>
    </message>
    <message>
        <source>CPU offload</source>
        <translation>CPU 卸载</translation>
    </message>
    <message>
        <source>Keep parts of the model in CPU memory: &apos;model&apos; saves a lot of GPU memory at a small cost; &apos;sequential&apos; saves the most and is slowest.</source>
        <translation>把模型的部分内容放在 CPU 内存中：“整个模型”以很小的代价节省大量显存；“逐层”最省显存，但速度最慢。</translation>
    </message>
    <message>
        <source>None</source>
        <translation>不卸载</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>整个模型</translation>
    </message>
    <message>
        <source>Sequential</source>
        <translation>逐层</translation>
    </message>
    <message>
        <source>VAE slicing</source>
        <translation>VAE 切片</translation>
    </message>
    <message>
        <source>Decode frames in slices to save memory (changes a few pixels by one level).</source>
        <translation>分片解码各帧以节省内存（少数像素值会相差一级）。</translation>
    </message>
    <message>
        <source>VAE tiling</source>
        <translation>VAE 分块</translation>
    </message>
    <message>
        <source>Decode in tiles: needed for large sizes on small GPUs.</source>
        <translation>分块解码：在显存较小的 GPU 上生成大尺寸时需要开启。</translation>
    </message>
    <message>
        <source>Memory plan</source>
        <translation>内存计划</translation>
    </message>
    <message>
        <source>auto: before each job, turn on the memory savers it needs to fit the device&apos;s free memory (chunked decoding, split inference, VAE tiling, offload), and retry once with the next one after running out of memory. off: only your own switches.</source>
        <translation>自动：每个任务开始前，打开适应设备可用内存所需的省内存选项（分块解码、拆分推理、VAE 分块、卸载），内存不足时用下一个选项自动重试一次。关闭：只使用你自己打开的选项。</translation>
    </message>
    <message>
        <source>Off</source>
        <translation>关闭</translation>
    </message>
    <message>
        <source>VAE precision</source>
        <translation>VAE 精度</translation>
    </message>
    <message>
        <source>float32 decodes in full precision, the fix for black or NaN frames from a float16 VAE; auto does so when the VAE&apos;s configuration asks for it (force_upcast).</source>
        <translation>float32 以全精度解码，可修复 float16 VAE 产生的黑帧或 NaN；自动：当 VAE 配置要求时（force_upcast）使用 float32。</translation>
    </message>
    <message>
        <source>Allow pickle weights</source>
        <translation>允许 pickle 权重</translation>
    </message>
    <message>
        <source>Allow .ckpt/.bin/.pt weights, which can run code when they load.</source>
        <translation>允许 .ckpt/.bin/.pt 权重文件，这类文件在加载时可能执行代码。</translation>
    </message>
    <message>
        <source>LoRAs</source>
        <translation>图像 LoRA</translation>
    </message>
    <message>
        <source>Style and character LoRAs for Stable Diffusion 1.5 (diffusers, kohya or A1111 .safetensors), each with its weight; they combine with the motion LoRAs.</source>
        <translation>适用于 Stable Diffusion 1.5 的风格和角色 LoRA（diffusers、kohya 或 A1111 格式的 .safetensors），各自设置权重；可与运动 LoRA 同时使用。</translation>
    </message>
    <message>
        <source>Embeddings</source>
        <translation>嵌入</translation>
    </message>
    <message>
        <source>Textual-inversion embeddings (e.g. negative embeddings): write the token in the prompt or negative prompt. Without a token it is &lt;file name&gt;.</source>
        <translation>文本反演嵌入（例如负面嵌入）：在提示词或反向提示词中写入它的触发词。未填写触发词时，触发词就是文件名（不含扩展名）。</translation>
    </message>
    <message>
        <source>Channels last</source>
        <translation>通道后置</translation>
    </message>
    <message>
        <source>Store the UNet&apos;s weights in channels-last order: often faster on NVIDIA GPUs (see the README&apos;s benchmark); may change a few pixels by one level.</source>
        <translation>以通道后置顺序存放 UNet 权重：在 NVIDIA GPU 上通常更快（见 README 中的基准测试）；少数像素值可能相差一级。</translation>
    </message>
    <message>
        <source>Compile UNet</source>
        <translation>编译 UNet</translation>
    </message>
    <message>
        <source>torch.compile the UNet: the first job takes minutes longer, later jobs with the same models run faster.</source>
        <translation>用 torch.compile 编译 UNet：第一个任务要多花几分钟，之后使用相同模型的任务会更快。</translation>
    </message>
</context>
<context>
    <name>StartImageField</name>
    <message>
        <source>Images (*.png *.jpg *.jpeg *.webp *.bmp);;All files (*)</source>
        <translation>图像 (*.png *.jpg *.jpeg *.webp *.bmp);;所有文件 (*)</translation>
    </message>
    <message>
        <source>An image file; or drop one here</source>
        <translation>图像文件；也可以拖放到这里</translation>
    </message>
    <message>
        <source>Browse start image</source>
        <translation>浏览起始图像</translation>
    </message>
    <message>
        <source>Choose the image the clip starts from</source>
        <translation>选择片段开始时的图像</translation>
    </message>
    <message>
        <source>Choose the start image</source>
        <translation>选择起始图像</translation>
    </message>
</context>
<context>
    <name>TakesPanel</name>
    <message>
        <source>Takes</source>
        <translation>镜头</translation>
    </message>
    <message>
        <source>Every take of this project. Select one to play it and load its settings; select two to compare. Right-click a take to interpolate or upscale it into a new take.</source>
        <translation>此项目的所有镜头。选择一个即可播放并载入其设置；选择两个可进行比较。右键单击镜头可将其插帧或放大为一个新镜头。</translation>
    </message>
    <message>
        <source>Re-run</source>
        <translation>重新生成</translation>
    </message>
    <message>
        <source>Generate this take again with exactly its settings</source>
        <translation>用完全相同的参数重新生成此镜头</translation>
    </message>
    <message>
        <source>Vary seed</source>
        <translation>换种子</translation>
    </message>
    <message>
        <source>Generate this take again with a new seed</source>
        <translation>用新的种子重新生成此镜头</translation>
    </message>
    <message>
        <source>Rename</source>
        <translation>重命名</translation>
    </message>
    <message>
        <source>Rename the take (or double-click it)</source>
        <translation>重命名镜头（也可双击）</translation>
    </message>
    <message>
        <source>Notes…</source>
        <translation>备注…</translation>
    </message>
    <message>
        <source>Write notes on this take (kept in the project)</source>
        <translation>为此镜头写备注（保存在项目中）</translation>
    </message>
    <message>
        <source>Mark or unmark the take as a favourite</source>
        <translation>收藏或取消收藏此镜头</translation>
    </message>
    <message>
        <source>Favourite</source>
        <translation>收藏</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>删除</translation>
    </message>
    <message>
        <source>Delete the take (Ctrl+Z brings it back)</source>
        <translation>删除镜头（按 Ctrl+Z 可恢复）</translation>
    </message>
    <message>
        <source>Undo</source>
        <translation>撤销</translation>
    </message>
    <message>
        <source>Bring back the last deleted take (Ctrl+Z)</source>
        <translation>恢复最近删除的镜头（Ctrl+Z）</translation>
    </message>
    <message>
        <source>Compare</source>
        <translation>对比</translation>
    </message>
    <message>
        <source>Play the two selected takes side by side</source>
        <translation>并排播放选中的两个镜头</translation>
    </message>
    <message>
        <source>{0} frames, {1}x{2}, {3} fps, {4}</source>
        <translation>{0} 帧，{1}x{2}，{3} fps，{4}</translation>
    </message>
    <message>
        <source>{0}
seed {1}</source>
        <translation>{0}
种子 {1}</translation>
    </message>
    <message>
        <source>a deleted take</source>
        <translation>已删除的镜头</translation>
    </message>
    <message>
        <source>{0} ← {1}
{2}</source>
        <translation>{0} ← {1}
{2}</translation>
    </message>
    <message>
        <source>Made from {0}: {1} ({2})</source>
        <translation>由 {0} 生成：{1}（{2}）</translation>
    </message>
    <message>
        <source>Take actions</source>
        <translation>镜头操作</translation>
    </message>
    <message>
        <source>Interpolate ×2…</source>
        <translation>插帧 ×2…</translation>
    </message>
    <message>
        <source>Interpolate ×4…</source>
        <translation>插帧 ×4…</translation>
    </message>
    <message>
        <source>Upscale…</source>
        <translation>放大…</translation>
    </message>
    <message>
        <source>Finish…</source>
        <translation>后期处理…</translation>
    </message>
    <message>
        <source>Rename take</source>
        <translation>重命名镜头</translation>
    </message>
    <message>
        <source>Name:</source>
        <translation>名称：</translation>
    </message>
    <message>
        <source>Notes</source>
        <translation>备注</translation>
    </message>
    <message>
        <source>Notes on {0}:</source>
        <translation>{0} 的备注：</translation>
    </message>
</context>
<context>
    <name>ThumbnailStrip</name>
    <message>
        <source>Frame thumbnails</source>
        <translation>帧缩略图</translation>
    </message>
</context>
<context>
    <name>TimelinePlayer</name>
    <message>
        <source>Loop</source>
        <translation>循环</translation>
    </message>
    <message>
        <source>Ping-pong</source>
        <translation>往返</translation>
    </message>
    <message>
        <source>Once</source>
        <translation>单次</translation>
    </message>
    <message>
        <source>Timeline player</source>
        <translation>时间轴播放器</translation>
    </message>
    <message>
        <source>First frame</source>
        <translation>第一帧</translation>
    </message>
    <message>
        <source>Previous frame</source>
        <translation>上一帧</translation>
    </message>
    <message>
        <source>Play / pause</source>
        <translation>播放 / 暂停</translation>
    </message>
    <message>
        <source>Next frame</source>
        <translation>下一帧</translation>
    </message>
    <message>
        <source>Last frame</source>
        <translation>最后一帧</translation>
    </message>
    <message>
        <source>Frame</source>
        <translation>帧</translation>
    </message>
    <message>
        <source>Scrub through the frames</source>
        <translation>拖动浏览各帧</translation>
    </message>
    <message>
        <source>Playback fps</source>
        <translation>播放帧率</translation>
    </message>
    <message>
        <source>Playback speed in frames per second (defaults to the take&apos;s fps)</source>
        <translation>播放速度，单位为每秒帧数（默认为该镜头的 fps）</translation>
    </message>
    <message>
        <source>Loop mode</source>
        <translation>循环模式</translation>
    </message>
    <message>
        <source>Loop, ping-pong (forward then back) or play once (L cycles)</source>
        <translation>循环、往返（先正放再倒放）或只播放一次（按 L 切换）</translation>
    </message>
    <message>
        <source>Zoom</source>
        <translation>缩放</translation>
    </message>
    <message>
        <source>Fit the window, or show at 1x / 2x</source>
        <translation>适应窗口，或按 1x / 2x 显示</translation>
    </message>
    <message>
        <source>Fit</source>
        <translation>适应窗口</translation>
    </message>
    <message>
        <source>Export</source>
        <translation>导出</translation>
    </message>
    <message>
        <source>Export…</source>
        <translation>导出…</translation>
    </message>
    <message>
        <source>Export the in/out range as GIF, MP4, WebM, WebP or PNG frames (Ctrl+E)</source>
        <translation>将入点到出点之间的范围导出为 GIF、MP4、WebM、WebP 或 PNG 序列帧（Ctrl+E）</translation>
    </message>
    <message>
        <source>Copy frame</source>
        <translation>复制画面</translation>
    </message>
    <message>
        <source>Save frame as PNG…</source>
        <translation>将画面另存为 PNG…</translation>
    </message>
    <message>
        <source>Save frame</source>
        <translation>保存画面</translation>
    </message>
    <message>
        <source>preview {0} / {1}  ·  {2} s</source>
        <translation>预览 {0} / {1}  ·  {2} 秒</translation>
    </message>
    <message>
        <source>{0} / {1}  ·  {2} s</source>
        <translation>{0} / {1}  ·  {2} 秒</translation>
    </message>
</context>
</TS>
